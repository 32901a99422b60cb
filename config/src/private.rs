//! Files that hold secrets (signing keys, payload encryption keys, TLS keys) under the data
//! directory: readable by the owner only, from the moment they exist.

use std::{fs, io, path::Path};

/// Creates `dir` and its missing parents, mode 0700 on Unix.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the new file `path` for writing, mode 0600 on Unix; fails if it exists.
pub fn create_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `contents` as the new file `path` (mode 0600), whole or not at all: under a
/// temporary name first, then linked into place, which fails with `AlreadyExists` if `path`
/// exists. A process reading the directory meanwhile never sees half a secret, and two
/// processes writing the same name at once leave one of them.
pub fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::{
        io::Write as _,
        sync::atomic::{AtomicU64, Ordering},
    };
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("secret");
    let temporary = path.with_file_name(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = create_file(&temporary).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()?;
        fs::hard_link(&temporary, path)
    });
    let _ = fs::remove_file(&temporary);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn secrets_are_the_owners_alone_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/keys");
        create_dir(&dir).unwrap();
        let file = dir.join("k.key");
        create_file(&file).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            create_file(&file).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let key = dir.join("new.key");
        write_new(&key, b"one").unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(
            write_new(&key, b"two").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(fs::read(&key).unwrap(), b"one");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "no temporary file is left"
        );
    }
}
