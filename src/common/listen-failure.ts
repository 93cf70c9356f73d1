/**
 * Why a listener could not listen, as the one line an entry point prints: every listener of every
 * process (the APIs, the dashboard, the console proxies, the metrics listener) names its option.
 */

/** A failure whose message is already the line to print. */
export class StartupError extends Error {}

/** `port 8774 ([api] compute_port) is in use`, and the like for the other errors listen() gives. */
export function listenFailure(err: unknown, host: string, port: number, option: string): Error {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') return new StartupError(`port ${port} (${option}) is in use`);
  if (code === 'EACCES') return new StartupError(`port ${port} (${option}) needs privileges this process lacks`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new StartupError(`address ${host} ([DEFAULT] bind_host) is not an address of this machine`);
  return err instanceof Error ? err : new Error(String(err));
}
