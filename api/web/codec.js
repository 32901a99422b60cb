// The codec session of this browser: an operator signs in (password grant), and the API sets
// the HttpOnly codec_session cookie that the Temporal UI sends to /codec/decode. The token
// itself is used once here and kept nowhere.

const form = document.getElementById('codec-form');
const status = document.getElementById('codec-status');

function show(message) {
  status.textContent = message;
  status.hidden = false;
}

async function refusal(response) {
  try {
    const body = await response.json();
    return body.message || body.error_description || `refused (${response.status})`;
  } catch {
    return `refused (${response.status})`;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = new URLSearchParams({
    grant_type: 'password',
    username: document.getElementById('account-id').value.trim(),
    password: document.getElementById('secret').value,
  });
  try {
    const token = await fetch('/oauth/token', { method: 'POST', body });
    if (!token.ok) return show(`Not signed in: ${await refusal(token)}`);
    const { access_token: accessToken } = await token.json();
    const session = await fetch('/codec/session', {
      method: 'POST',
      headers: { Authorization: `Bearer ${accessToken}` },
    });
    if (!session.ok) return show(`No codec session: ${await refusal(session)}`);
    const { expiresIn } = await session.json();
    document.getElementById('secret').value = '';
    show(`Codec session open for ${Math.round(expiresIn / 60)} minutes.`);
  } catch {
    show('The API did not answer.');
  }
});

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await fetch('/codec/session', { method: 'DELETE' });
    show('Codec session ended.');
  } catch {
    show('The API did not answer.');
  }
});
