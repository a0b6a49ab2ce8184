/** Entry point: find the endpoints, restore or start a session, and show the right screen. */

import './styles.css';
import { Api } from './api';
import { App } from './app';
import { loadEndpoints } from './config';
import { clearSession, loadSession, saveSession, type StoredSession } from './session';
import { loginView } from './views/login';

async function boot(): Promise<void> {
  const root = document.getElementById('app');
  if (!root) return;
  const endpoints = await loadEndpoints();
  let session: StoredSession | null = loadSession();
  let app: App | null = null;

  const api = new Api(
    endpoints.http,
    () => session?.token ?? null,
    () => showLogin('Your session has ended. Please sign in again.'),
    (renewed) => {
      // A password change ended every earlier token; this one keeps the page signed in.
      if (session) session = saveSession(renewed);
    },
  );

  function showLogin(notice = ''): void {
    app?.destroy();
    app = null;
    session = null;
    clearSession();
    root!.replaceChildren(
      loginView(
        {
          login: (u, p) => api.login(u, p),
          register: (u, p, d) => api.register(u, p, d),
          done: (s) => {
            session = saveSession(s);
            void showApp(session);
          },
        },
        notice,
      ),
    );
    document.title = 'Sign in · ChatFlow';
  }

  async function showApp(s: StoredSession): Promise<void> {
    document.title = 'ChatFlow';
    app = new App(root!, api, endpoints, s.user, (notice) => showLogin(notice));
    await app.start();
  }

  if (session) await showApp(session);
  else showLogin();
}

void boot();
