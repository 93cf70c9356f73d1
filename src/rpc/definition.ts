import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { BadRequest } from '../common/errors.js';
import { versionCompatible } from '../common/versions.js';
import type { RpcContext } from './bus.js';

/**
 * One definition per RPC API, for both ends. Each method is written down once: the version it
 * appeared in, whether it is a call or a cast, its arguments and answer as the handler and the
 * caller see them, their form on the wire (a TypeBox schema the receiver checks), and how they
 * are turned into it — including the backport to an older receiver, which gets the `pin` its
 * senders are held to. The typed client (RpcClient.send, rpc/dispatch.ts) and the receiving
 * table (dispatcher) are both derived from it, so a method cannot exist on one side only and a
 * wrong argument is a compile error.
 */

/** What a method's handler takes and answers: the types both ends agree on. */
export interface Signature {
  args: unknown;
  result: unknown;
}

/**
 * One method. Method syntax on purpose: a definition of particular arguments is then also a
 * MethodDef<unknown, unknown>, which is what an API's table holds.
 */
export interface MethodDef<A, R> {
  /** The API version the method appeared in: a sender pinned lower refuses to send it. */
  readonly since: string;
  readonly kind: 'call' | 'cast';
  /**
   * Conductor 1.4: a write about a node, which a compute serving a shared node sends with its
   * claim on it (compute/node-claims.ts); the conductor checks the claim in the write's transaction.
   */
  readonly nodeClaim: boolean;
  /** The wire arguments for receivers pinned to `pin`. */
  encodeArgs(args: A, pin: string): Record<string, unknown>;
  /** The handler's arguments from a message's; refuses arguments not of the wire schema (400). */
  decodeArgs(wire: Record<string, unknown>): A;
  /** The answer on the wire. */
  encodeResult(result: R): unknown;
  /** The answer from the wire; refuses one not of the schema. */
  decodeResult(wire: unknown): R;
}

/** The method table of an API whose methods have signatures `S`. */
export type MethodTable<S extends Record<string, Signature>> = { [K in keyof S]: MethodDef<S[K]['args'], S[K]['result']> };

/** The signatures of a table of definitions. */
export type SignaturesOf<D> = {
  [K in keyof D]: D[K] extends MethodDef<infer A, infer R> ? { args: A; result: R } : never;
};

export interface RpcApi<S extends Record<string, Signature>> {
  /** The API's name in errors and logs (conductor, compute, scheduler). */
  readonly name: string;
  /** The newest version: what receivers serve, and senders send unless pinned lower. */
  readonly version: string;
  readonly methods: MethodTable<S>;
}

/** What a service serves for an API: one handler per method, typed from its definition. */
export type Handlers<S extends Record<string, Signature>> = {
  [K in keyof S]: (args: S[K]['args'], ctx: RpcContext) => Promise<S[K]['result']>;
};

/** The signatures of an API. */
export type ApiSignatures<A> = A extends RpcApi<infer S> ? S : never;

/** An API from its definitions. The intersection makes the table typed by the signatures it defines. */
export function defineApi<const D extends Record<string, MethodDef<unknown, unknown>>>(
  name: string, version: string, methods: D & MethodTable<SignaturesOf<D>>,
): RpcApi<SignaturesOf<D>> {
  return { name, version, methods };
}

/** The method names of an API (own keys only: a message's method name is the sender's data). */
export function methodNames<S extends Record<string, Signature>>(api: RpcApi<S>): Array<Extract<keyof S, string>> {
  return Object.keys(api.methods).filter((k): k is Extract<keyof S, string> => Object.hasOwn(api.methods, k));
}

/** The wire form of a method: its argument schema, and how its arguments are written and read. */
interface WireSpec<A, W extends TObject> {
  since?: string;
  nodeClaim?: boolean;
  /** The arguments on the wire. Further properties pass (a newer sender's), as they always did. */
  args: W;
  /** The wire arguments for receivers pinned to `pin` (leave out what they do not know). */
  encode(args: A, pin: string): Static<W>;
  decode(wire: Static<W>): A;
}

interface CallSpec<A, W extends TObject, R, WR extends TSchema> extends WireSpec<A, W> {
  /** The answer on the wire. */
  result: WR;
  encodeResult(result: R): Static<WR>;
  decodeResult(wire: Static<WR>): R;
}

function checker<T extends TSchema>(schema: T, what: string): (value: unknown) => Static<T> {
  const check = TypeCompiler.Compile(schema);
  return (value) => {
    if (check.Check(value)) return value;
    const first = check.Errors(value).First();
    throw new BadRequest(`${what}: ${first ? `${first.path || '/'} ${first.message}` : 'not of its schema'}`);
  };
}

function argsOf<A, W extends TObject>(spec: WireSpec<A, W>): Pick<MethodDef<A, never>, 'since' | 'nodeClaim' | 'encodeArgs' | 'decodeArgs'> {
  const read = checker(spec.args, 'malformed RPC arguments');
  return {
    since: spec.since ?? '1.0',
    nodeClaim: spec.nodeClaim ?? false,
    encodeArgs: (args, pin) => spec.encode(args, pin),
    decodeArgs: (wire) => spec.decode(read(wire)),
  };
}

/** A call: the sender waits for the answer. */
export function call<A, W extends TObject, R, WR extends TSchema>(spec: CallSpec<A, W, R, WR>): MethodDef<A, R> {
  const read = checker(spec.result, 'malformed RPC answer');
  return {
    ...argsOf(spec), kind: 'call',
    encodeResult: (result) => spec.encodeResult(result),
    decodeResult: (wire) => spec.decodeResult(read(wire)),
  };
}

/** A call answering nothing (null on the wire). */
export function voidCall<A, W extends TObject>(spec: WireSpec<A, W>): MethodDef<A, void> {
  return { ...argsOf(spec), kind: 'call', encodeResult: () => null, decodeResult: () => undefined };
}

/** A cast: delivered to one receiver, no answer. */
export function cast<A, W extends TObject>(spec: WireSpec<A, W>): MethodDef<A, void> {
  return { ...argsOf(spec), kind: 'cast', encodeResult: () => null, decodeResult: () => undefined };
}

export const Str = Type.String();
export const StrOrNull = Type.Union([Type.String(), Type.Null()]);

/** A versioned object on the wire (objects/envelope.ts): opened with unwrap, which checks its name and major version. */
export const EnvelopeWire = Type.Object({ name: Type.String(), version: Type.String(), data: Type.Unknown() });

/** Whether receivers pinned to `pin` know what appeared in `since`. */
export const knows = (pin: string, since: string): boolean => versionCompatible(since, pin);
