/** The frame of a signed-in page: top bar with the connection state, the screen-reader announcer. */

import { h } from '../dom';
import type { ConnectionState } from '../stomp';
import type { User } from '../types';

/**
 * What an alert is about, so it can clear itself: `rooms` and `members` (a list that could
 * not be loaded: cleared by the next load that works), `request` (a refused or failed action:
 * cleared by the next one that succeeds), `notice` (news, such as a room lost: dismissed).
 */
export type AlertCause = 'rooms' | 'members' | 'request' | 'notice';

export class Shell {
  readonly el: HTMLElement;
  readonly body: HTMLDivElement;
  private readonly conn: HTMLDivElement;
  private readonly connText: HTMLSpanElement;
  private readonly countdown: HTMLSpanElement;
  private readonly reconnect: HTMLButtonElement;
  private readonly announcer: HTMLDivElement;
  private readonly alert: HTMLDivElement;
  /** What the alert shown reports; it clears itself when that condition ends. */
  private alertCause: AlertCause | null = null;
  private tick: ReturnType<typeof setInterval> | null = null;

  constructor(me: User, onSignOut: () => void, onReconnect: () => void) {
    this.connText = h('span', { class: 'conn-text' }, 'Connecting…');
    this.countdown = h('span', { class: 'conn-countdown', 'aria-hidden': 'true' });
    this.reconnect = h('button', { type: 'button', class: 'small' }, 'Reconnect now');
    this.reconnect.hidden = true;
    this.reconnect.addEventListener('click', onReconnect);
    this.conn = h(
      'div',
      { class: 'conn', 'data-state': 'connecting' },
      h('span', { class: 'conn-dot', 'aria-hidden': 'true' }),
      h('span', { role: 'status', class: 'conn-live' }, this.connText),
      this.countdown,
      this.reconnect,
    );
    const signOut = h('button', { type: 'button', class: 'small quiet signout' }, 'Sign out');
    signOut.addEventListener('click', onSignOut);
    this.announcer = h('div', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'true' });
    this.alert = h('div', { class: 'toast', role: 'alert' });
    this.alert.hidden = true;
    this.body = h('div', { class: 'layout', 'data-view': 'list' });
    this.el = h(
      'div',
      { class: 'app' },
      h('a', { href: '#main', class: 'skip' }, 'Skip to the conversation'),
      h(
        'header',
        { class: 'topbar' },
        // The page's one level-one heading; each screen's own title is a level-two heading under it.
        h('h1', { class: 'logo' }, 'ChatFlow'),
        this.conn,
        h('span', { class: 'me', title: `@${me.username}` }, me.displayName),
        h('a', { href: '#/account', class: 'button small quiet account-link' }, 'Account'),
        signOut,
      ),
      this.alert,
      this.body,
      this.announcer,
    );
  }

  setConnection(state: ConnectionState): void {
    this.conn.dataset.state = state.status;
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    this.countdown.textContent = '';
    this.reconnect.hidden = state.status !== 'waiting';
    switch (state.status) {
      case 'connected':
        this.connText.textContent = 'Connected';
        break;
      case 'checking':
        this.connText.textContent = 'Checking the connection…';
        break;
      case 'connecting':
        this.connText.textContent = state.reconnecting || state.attempt > 1 ? 'Reconnecting…' : 'Connecting…';
        break;
      case 'waiting': {
        this.connText.textContent = `Offline. ${state.reason} Reconnecting soon.`;
        const update = () => {
          const s = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
          this.countdown.textContent = `(in ${s} s)`;
        };
        update();
        this.tick = setInterval(update, 1000);
        break;
      }
      case 'stopped':
        this.connText.textContent = 'Disconnected';
        break;
    }
  }

  announce(text: string): void {
    this.announcer.textContent = '';
    setTimeout(() => {
      this.announcer.textContent = text;
    }, 50);
  }

  /**
   * Show `text` in the banner until dismissed or until `resolved(cause)` says the condition
   * it reports has ended (a later load succeeded, the connection is back).
   */
  showAlert(text: string, cause: AlertCause = 'request'): void {
    this.alertCause = text ? cause : null;
    this.alert.textContent = text;
    this.alert.hidden = !text;
    if (text) {
      const dismiss = h('button', { type: 'button', class: 'small quiet', 'aria-label': 'Dismiss' }, 'Dismiss');
      dismiss.addEventListener('click', () => this.showAlert(''));
      this.alert.append(' ', dismiss);
    }
  }

  /** The condition `cause` is over: its alert, if it is the one shown, goes away. */
  resolved(cause: AlertCause): void {
    if (this.alertCause === cause) this.showAlert('');
  }

  destroy(): void {
    if (this.tick) clearInterval(this.tick);
  }
}
