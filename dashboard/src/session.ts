import { useEffect, useState } from 'preact/hooks';
import { request, type RequestOptions, type Service, type ApiResponse } from './api.js';

/**
 * The signed-in user: a project-scoped Keystone token from password authentication, kept in
 * sessionStorage (this tab only, gone when it closes) so a reload keeps the user signed in.
 */

export interface Project {
  id: string;
  name: string;
}

export interface Session {
  token: string;
  expiresAt: string;
  user: { id: string; name: string };
  project: Project;
  roles: string[];
  /** The projects the user may switch to. */
  projects: Project[];
}

const KEY = 'orrery.session';
let current: Session | null = load();
const listeners = new Set<(s: Session | null) => void>();

function load(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && Date.parse(s.expiresAt) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

function set(s: Session | null): void {
  current = s;
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  for (const l of listeners) l(s);
}

export function session(): Session | null {
  return current;
}

export function isAdmin(s: Session | null = current): boolean {
  return s?.roles.includes('admin') ?? false;
}

export function useSession(): Session | null {
  const [s, setS] = useState(current);
  useEffect(() => {
    listeners.add(setS);
    return () => void listeners.delete(setS);
  }, []);
  return s;
}

interface TokenBody {
  token: { expires_at: string; user: { id: string; name: string }; project?: Project; roles?: Array<{ name: string }> };
}

async function issue(auth: unknown): Promise<{ token: string; body: TokenBody }> {
  const res = await request<TokenBody>('identity', 'POST', '/v3/auth/tokens?nocatalog', { body: { auth } });
  return { token: res.headers.get('x-subject-token') ?? '', body: res.body };
}

async function scoped(token: string, projectId: string, projects: Project[]): Promise<Session> {
  const { token: t, body } = await issue({ identity: { methods: ['token'], token: { id: token } }, scope: { project: { id: projectId } } });
  return {
    token: t, expiresAt: body.token.expires_at, user: body.token.user, project: body.token.project!,
    roles: (body.token.roles ?? []).map((r) => r.name), projects,
  };
}

/** Password login (Default domain); scoped to `projectName` or to the user's first project. */
export async function login(user: string, password: string, projectName: string): Promise<Session> {
  const { token } = await issue({ identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } } });
  const projects = (await request<{ projects: Project[] }>('identity', 'GET', '/v3/auth/projects', { token })).body.projects
    .map((p) => ({ id: p.id, name: p.name })).sort((a, b) => a.name.localeCompare(b.name));
  const chosen = projectName ? projects.find((p) => p.name === projectName) : projects[0];
  if (!chosen) throw new Error(projectName ? `You have no role on project ${projectName}.` : 'You have no role on any project.');
  const s = await scoped(token, chosen.id, projects);
  set(s);
  return s;
}

/** A token for another of the user's projects, from the current one. */
export async function switchProject(projectId: string): Promise<void> {
  if (!current) return;
  set(await scoped(current.token, projectId, current.projects));
}

export function logout(): void {
  const s = current;
  set(null);
  if (s) void request('identity', 'DELETE', '/v3/auth/tokens', { token: s.token, headers: { 'x-subject-token': s.token } }).catch(() => undefined);
}

/** A request with the signed-in user's token; a 401 (token expired or revoked) signs the user out. */
export async function call<T = any>(service: Service, method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  try {
    return await request<T>(service, method, path, { ...opts, token: current?.token ?? null });
  } catch (err) {
    if ((err as { status?: number }).status === 401 && current) set(null);
    throw err;
  }
}
