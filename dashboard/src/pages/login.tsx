import { useState } from 'preact/hooks';
import { login } from '../session.js';

/** Keystone password authentication in the Default domain; the project is optional (first one otherwise). */
export function LoginPage() {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = (e: Event): void => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    setBusy(true);
    setError('');
    login(String(f.get('user')), String(f.get('password')), String(f.get('project') ?? '').trim())
      .catch((err: Error) => setError((err as { status?: number }).status === 401 ? 'The user name or password is wrong.' : err.message))
      .finally(() => setBusy(false));
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>Orrery</h1>
      <label>User name <input name="user" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <label>Project <input name="project" placeholder="(your first project)" /></label>
      <button type="submit" disabled={busy}>Sign in</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}
