/**
 * Task arguments travel as one encoded Blob in which every Future (or other
 * task reference, such as a delayed node) is replaced by a DependencyRef
 * carrying its key. The worker swaps each DependencyRef for the dependency's
 * value before calling the function.
 *
 * The walk reaches references at the top level and nested in arrays, plain
 * objects, Maps (values) and Sets. An instance of a class with methods is
 * refused on the way (class-instances.ts). Containers without references are returned
 * as they are (no copy); a container with one is copied along the path to it.
 */
import { SerializationError } from '../errors.js';
import { DependencyRef } from '../protocol/values.js';
import { refuseClassInstance } from './class-instances.js';

/** Marks objects that stand for a task's result: the property holds the task key. */
export const taskKeyOf: unique symbol = Symbol.for('distributed-ts.taskKey');

export interface TaskReference {
  readonly [taskKeyOf]: string;
}

export function isTaskReference(value: unknown): value is TaskReference {
  return typeof value === 'object' && value !== null && taskKeyOf in value;
}

export interface ReplacedReferences<T = unknown> {
  /** The value with every reference replaced by a DependencyRef. */
  value: T;
  /** Each referenced key and the (first) object that referred to it, in order of appearance. */
  references: ReadonlyMap<string, TaskReference>;
}

/** Shared by every call that finds no references (the common case): never mutated. */
const noReferences: ReadonlyMap<string, TaskReference> = new Map();

/** Replace task references inside `value`; see the module comment. */
export function replaceReferences<T>(
  value: T,
  references?: Map<string, TaskReference>,
  label = '',
): ReplacedReferences<T> {
  if (references === undefined && Array.isArray(value) && value.every(isPrimitive)) return { value, references: noReferences };
  references ??= new Map();
  const walker = new ReferenceWalker(references);
  return { value: walker.walk(value, label) as T, references };
}

function isPrimitive(value: unknown): boolean {
  return typeof value !== 'object' || value === null;
}

export function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

class ReferenceWalker {
  /** Containers on the current path, to refuse circular structures with a clear message. */
  private readonly path: object[] = [];

  constructor(private readonly references: Map<string, TaskReference>) {}

  walk(value: unknown, where: string): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (taskKeyOf in value) {
      const key = (value as TaskReference)[taskKeyOf];
      if (!this.references.has(key)) this.references.set(key, value as TaskReference);
      return new DependencyRef(key);
    }
    if (Array.isArray(value)) return this.enter(value, where, () => this.walkArray(value, where));
    if (value instanceof Map) return this.enter(value, where, () => this.walkMap(value, where));
    if (value instanceof Set) return this.enter(value, where, () => this.walkSet(value, where));
    if (isPlainObject(value)) return this.enter(value, where, () => this.walkObject(value, where));
    refuseClassInstance(value, where);
    return value;
  }

  private enter(container: object, where: string, walkInside: () => unknown): unknown {
    if (this.path.includes(container)) {
      throw new SerializationError(
        `cannot send a circular structure: ${where === '' ? 'the value' : where} contains itself`,
      );
    }
    this.path.push(container);
    try {
      return walkInside();
    } finally {
      this.path.pop();
    }
  }

  private walkArray(array: readonly unknown[], where: string): unknown[] {
    let copy: unknown[] | undefined;
    for (let i = 0; i < array.length; i++) {
      const item = array[i];
      const replaced = this.walk(item, `${where}[${i}]`);
      if (copy === undefined && replaced !== item) copy = array.slice(0, i);
      if (copy !== undefined) copy.push(replaced);
    }
    return copy ?? (array as unknown[]);
  }

  private walkObject(object: Record<string, unknown>, where: string): Record<string, unknown> {
    let copy: Record<string, unknown> | undefined;
    for (const name of Object.keys(object)) {
      const item = object[name];
      const replaced = this.walk(item, where === '' ? name : `${where}.${name}`);
      if (copy === undefined && replaced !== item) copy = { ...object };
      if (copy !== undefined) copy[name] = replaced;
    }
    return copy ?? object;
  }

  private walkMap(map: Map<unknown, unknown>, where: string): Map<unknown, unknown> {
    let copy: Map<unknown, unknown> | undefined;
    for (const [name, item] of map) {
      const replaced = this.walk(item, `${where}.get(${String(name)})`);
      if (copy === undefined && replaced !== item) copy = new Map(map);
      if (copy !== undefined) copy.set(name, replaced);
    }
    return copy ?? map;
  }

  private walkSet(set: Set<unknown>, where: string): Set<unknown> {
    const items = [...set];
    const replaced = this.walkArray(items, `${where}(set)`);
    return replaced === items ? set : new Set(replaced);
  }
}
