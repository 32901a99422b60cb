//! `GET /delivery-list` as the contract pages it: `{"items":[…],"nextCursor"}`, newest first,
//! each page from the previous page's cursor, `from`/`to` on `updatedAt`, and bad paging
//! refused with `422 validation_failed` naming the parameter.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Days, SecondsFormat, Utc};
use e2e::{ApiClient, Stack, StackOptions, eventually};
use identity::Role;
use serde_json::Value;

/// How many deliveries the restaurant calls.
const CALLS: i64 = 5;

/// The ids of a page's rows.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page of items: {page}"))
        .iter()
        .map(|r| r["deliveryId"].as_str().expect("deliveryId").to_owned())
        .collect()
}

/// Every page of `query` (which sets `limit`) from the first on: the ids of each page's rows.
async fn pages(client: &ApiClient, query: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            // Sent as given: a cursor needs no URL encoding.
            Some(cursor) => format!("/delivery-list?{query}&cursor={cursor}"),
            None => format!("/delivery-list?{query}"),
        };
        let (status, page) = client.get(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        let object = page.as_object().expect("an object");
        assert!(
            object.len() == 2 && object.contains_key("nextCursor"),
            "{path}: {page}"
        );
        let rows = ids(&page);
        assert!(rows.len() <= limit, "{path}: {page}");
        pages.push(rows);
        match &page["nextCursor"] {
            Value::Null => return pages,
            Value::String(next) => {
                assert!(
                    next.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
                    "a URL-safe cursor: {next}"
                );
                assert!(pages.len() < 20, "paging does not end: {pages:?}");
                cursor = Some(next.clone());
            }
            other => panic!("{path}: nextCursor {other}"),
        }
    }
}

/// `updatedAt` of a row.
fn updated_at(row: &Value) -> DateTime<Utc> {
    row["updatedAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("updatedAt: {row}"))
}

/// An instant as a query value: RFC 3339, in UTC (`Z`, so nothing to encode).
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restaurant_pages_through_its_rows_once_each_filters_by_time_and_bad_paging_is_refused() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-pages").await;
    let other = stack.signed_in(Role::Restaurant, "r-elsewhere").await;
    let operator = stack.signed_in(Role::Operator, "ops-pages").await;
    let theirs = other.call_rider(3000).await;
    let mut called = HashSet::new();
    for n in 0..CALLS {
        called.insert(restaurant.call_rider(1000 + n).await);
    }

    // One page holds them all once every call is projected.
    let all = eventually(
        "the restaurant's calls to be listed",
        Duration::from_secs(30),
        || async {
            let (status, page) = restaurant.get("/delivery-list?limit=200").await;
            assert_eq!(status, 200, "{page}");
            (page["items"].as_array()?.len() == called.len()).then_some(page)
        },
    )
    .await;
    assert_eq!(all["nextCursor"], Value::Null, "{all}");
    let order = ids(&all);
    assert_eq!(order.iter().cloned().collect::<HashSet<_>>(), called);
    assert!(!order.contains(&theirs), "only its own rows: {all}");
    let rows = all["items"].as_array().unwrap().clone();
    for pair in rows.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert!(
            updated_at(newer) > updated_at(older)
                || (updated_at(newer) == updated_at(older)
                    && newer["deliveryId"].as_str() < older["deliveryId"].as_str()),
            "newest first, ties by id: {all}"
        );
    }
    // The default page (50) holds them all too.
    let (_, default) = restaurant.get("/delivery-list").await;
    assert_eq!(default, all);

    // Two at a time: three pages, every row exactly once, in the list's order.
    let paged = pages(&restaurant, "limit=2", 2).await;
    assert_eq!(
        paged.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 2, 1],
        "{paged:?}"
    );
    assert_eq!(paged.concat(), order);
    // A restaurant's filter on another restaurant changes nothing; an operator's narrows.
    let paged = pages(&restaurant, "restaurantId=r-elsewhere&limit=2", 2).await;
    assert_eq!(paged.concat(), order);
    let paged = pages(&operator, "restaurantId=r-pages&limit=2", 2).await;
    assert_eq!(paged.concat(), order);
    let paged = pages(&operator, "limit=2", 2).await;
    assert_eq!(paged.concat().len(), called.len() + 1, "{paged:?}");

    // `from` and `to` as instants: from included, to excluded; paged alike.
    let times: Vec<_> = rows.iter().map(updated_at).collect();
    let (from, to) = (times[3], times[1]);
    let between: Vec<_> = rows
        .iter()
        .filter(|r| (from..to).contains(&updated_at(r)))
        .map(|r| r["deliveryId"].as_str().unwrap().to_owned())
        .collect();
    assert!(!between.is_empty(), "{all}");
    let query = format!("from={}&to={}&limit=1", instant(from), instant(to));
    assert_eq!(pages(&restaurant, &query, 1).await.concat(), between);
    // The same instants with an offset (its '+' sent as %2B).
    let offset = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let query = format!(
        "from={}&to={}",
        from.with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
            .replace('+', "%2B"),
        to.with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
            .replace('+', "%2B"),
    );
    assert_eq!(pages(&restaurant, &query, 50).await.concat(), between);
    let newest_only: Vec<_> = rows
        .iter()
        .filter(|r| updated_at(r) == times[0])
        .map(|r| r["deliveryId"].as_str().unwrap().to_owned())
        .collect();
    let query = format!("from={}", instant(times[0]));
    assert_eq!(pages(&restaurant, &query, 50).await.concat(), newest_only);
    let query = format!("to={}", instant(times[CALLS as usize - 1]));
    assert_eq!(
        pages(&restaurant, &query, 50).await.concat(),
        [] as [String; 0]
    );

    // `from` and `to` as days (UTC): whole days, both included.
    let first_day = times[CALLS as usize - 1].date_naive();
    let last_day = times[0].date_naive();
    let query = format!("from={first_day}&to={last_day}");
    assert_eq!(pages(&restaurant, &query, 50).await.concat(), order);
    let query = format!("from={first_day}&to={first_day}");
    let on_first_day: Vec<_> = rows
        .iter()
        .filter(|r| updated_at(r).date_naive() == first_day)
        .map(|r| r["deliveryId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pages(&restaurant, &query, 50).await.concat(), on_first_day);
    let query = format!("to={}", first_day - Days::new(1));
    assert_eq!(
        pages(&restaurant, &query, 50).await.concat(),
        [] as [String; 0]
    );
    let query = format!("from={}", last_day + Days::new(1));
    assert_eq!(
        pages(&restaurant, &query, 50).await.concat(),
        [] as [String; 0]
    );

    // Bad paging and bad times: 422 naming the parameter.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=two", "limit"),
        ("cursor=nope", "cursor"),
        ("cursor=1800000000000000000", "cursor"),
        ("cursor=soon.d-1", "cursor"),
        ("cursor=1800000000000000000.bad%20id", "cursor"),
        ("from=yesterday", "from"),
        ("from=2027-02-30", "from"),
        ("from=2027-1-5", "from"),
        // A '+' sent unencoded is a space.
        ("from=2027-01-15T08:00:00+09:00", "from"),
        ("to=2027-01-15T08:00:00", "to"),
        ("to=1800000000", "to"),
    ] {
        let (status, body) = restaurant.get(&format!("/delivery-list?{query}")).await;
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (422, Some("validation_failed"), Some(field)),
            "{query}: {body}"
        );
    }

    // Nothing moved meanwhile: the checks above saw one state.
    let (_, again) = restaurant.get("/delivery-list?limit=200").await;
    assert_eq!(again, all);
}
