// Finds the Docker daemon the tests use: the socket of [docker] socket's default, or
// $ORRERY_DOCKER_SOCKET. A test without a daemon skips with the reason, and fails instead under
// ORRERY_REQUIRE_BACKENDS=1 (CI), as test/support/backends.ts does for the root tests.
import { execFileSync } from 'node:child_process';
import { DOCKER_OPTIONS } from '@orrery/driver-docker';

export function dockerSocket(): string {
  return process.env.ORRERY_DOCKER_SOCKET ?? DOCKER_OPTIONS.socket.default;
}

/** True when the daemon answers the docker CLI on the socket (the tests look at the daemon with it too). */
export function dockerWorks(socket = dockerSocket()): boolean {
  try {
    execFileSync('docker', ['-H', `unix://${socket}`, 'version', '--format', '{{.Server.Version}}'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** The skip reason when no daemon answers, or false; throws instead under ORRERY_REQUIRE_BACKENDS=1. */
export function dockerSkip(socket = dockerSocket()): string | false {
  if (dockerWorks(socket)) return false;
  const why = `no Docker daemon answers on ${socket}; run scripts/ci-docker.sh`;
  if (process.env.ORRERY_REQUIRE_BACKENDS === '1') throw new Error(`${why} (ORRERY_REQUIRE_BACKENDS=1)`);
  return why;
}

/** `docker …` on the tests' daemon (the CLI, for looking from outside the driver). */
export function docker(args: string[]): string {
  return execFileSync('docker', ['-H', `unix://${dockerSocket()}`, ...args], { encoding: 'utf8', timeout: 60_000 });
}
