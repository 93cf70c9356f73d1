/** Who a request is made as: a project-scoped token and whose it is. */
export interface Session {
  token: string;
  projectId: string;
  userId: string;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * One request with a token, JSON in and out. A string or bytes body goes as it is (a test's
 * malformed JSON or an upload), anything else as JSON; `headers` override the defaults. The
 * response body is parsed when it is JSON, kept as text when not, and null when empty.
 */
export async function api<T = any>(
  session: Pick<Session, 'token'> | null, method: string, url: string, body?: unknown, headers: Record<string, string> = {},
): Promise<ApiResponse<T>> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(session ? { 'x-auth-token': session.token } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/**
 * One call to an OpenStack-style API at `base.url`, optionally at a microversion: a bare
 * version ("2.37") is compute's, one with a service name ("placement 1.10") goes as it is.
 */
export function callApi(
  base: { url: string }, who: Session | null, method: string, path: string, body?: unknown, microversion?: string,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const all = { ...headers };
  if (microversion) all['openstack-api-version'] = microversion.includes(' ') ? microversion : `compute ${microversion}`;
  return api(who, method, `${base.url}${path}`, body, all);
}
