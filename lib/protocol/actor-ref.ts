/**
 * An actor handle as a value: which instance (its task key), which worker
 * holds it, its class name and method names. It is what a worker stores as
 * the actor task's result, so the handle travels wherever values travel
 * (results, task arguments, queues, variables) as a msgpackr extension.
 *
 * Decoding gives a bare ActorRef unless a materializer is installed (the
 * client installs one that makes an `Actor<T>` proxy). Objects that stand for
 * an actor (those proxies) register their ActorRef, and encode as it.
 */
import { addExtension } from 'msgpackr';
import { SerializationError } from '../errors.js';
import { EXT_ACTOR_REF } from './extension-codes.js';

export class ActorRef {
  constructor(
    /** The key of the task that created the instance. */
    readonly key: string,
    /** The worker holding the instance. */
    readonly address: string,
    readonly className: string,
    /** Names that are methods (calls); everything else is read as an attribute. */
    readonly methods: readonly string[],
  ) {}
}

type ActorTuple = [key: string, address: string, className: string, methods: string[]];

const standIns = new WeakMap<object, ActorRef>();

/** Makes `object` (which must be `instanceof ActorRef`, e.g. a proxy over one) encode as `ref`. */
export function registerActorStandIn(object: object, ref: ActorRef): void {
  standIns.set(object, ref);
}

/** The ActorRef behind an actor handle or proxy, if `value` is one. */
export function actorRefOf(value: unknown): ActorRef | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return standIns.get(value) ?? (value instanceof ActorRef ? value : undefined);
}

let materializer: ((ref: ActorRef) => unknown) | undefined;

/** What decoding turns an ActorRef into (undefined: the ActorRef itself). */
export function setActorMaterializer(fn: ((ref: ActorRef) => unknown) | undefined): void {
  materializer = fn;
}

function isActorTuple(value: unknown): value is ActorTuple {
  return (
    Array.isArray(value) &&
    value.length === 4 &&
    typeof value[0] === 'string' &&
    typeof value[1] === 'string' &&
    typeof value[2] === 'string' &&
    Array.isArray(value[3]) &&
    value[3].every((name) => typeof name === 'string')
  );
}

addExtension({
  Class: ActorRef,
  type: EXT_ACTOR_REF,
  write(value: ActorRef): ActorTuple {
    const ref = standIns.get(value) ?? value;
    return [ref.key, ref.address, ref.className, [...ref.methods]];
  },
  read(tuple: unknown): unknown {
    if (!isActorTuple(tuple)) throw new SerializationError('malformed actor handle');
    const ref = new ActorRef(tuple[0], tuple[1], tuple[2], tuple[3]);
    return materializer === undefined ? ref : materializer(ref);
  },
});
