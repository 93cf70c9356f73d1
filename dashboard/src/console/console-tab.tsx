import type { Server } from '../types.js';

/**
 * The server detail's "Console" tab: the interactive browser console (noVNC or serial) through
 * the remote-consoles API. This placeholder says so until the console component lands here.
 */
export function ConsoleTab(props: { server: Server }) {
  return <p class="muted" data-testid="console-placeholder">The interactive console of {props.server.name} is not available in this build.</p>;
}
