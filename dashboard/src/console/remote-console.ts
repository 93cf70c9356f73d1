import { call } from '../session.js';

/** The console kinds the tab offers, as the remote-consoles API names them. */
export type ConsoleChoice = 'novnc' | 'serial';

const PROTOCOL: Readonly<Record<ConsoleChoice, string>> = { novnc: 'vnc', serial: 'serial' };

/**
 * A console URL of the server, through the public API with the user's own token (POST
 * /servers/{id}/remote-consoles, 2.6): the URL carries a short-lived token the console proxy
 * checks. A new URL for every connection: a token is not kept in the page.
 */
export async function consoleUrl(serverId: string, type: ConsoleChoice): Promise<string> {
  const r = await call<{ remote_console: { url: string } }>('compute', 'POST', `/v2.1/servers/${encodeURIComponent(serverId)}/remote-consoles`, {
    body: { remote_console: { protocol: PROTOCOL[type], type } }, microversion: '2.6',
  });
  return r.body.remote_console.url;
}
