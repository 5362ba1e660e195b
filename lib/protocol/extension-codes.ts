/**
 * MessagePack extension type numbers this project registers with msgpackr.
 *
 * msgpackr's extension registry is process-global (one table shared by every
 * Packr/Unpackr), so every code lives here to keep them from colliding.
 * 1..100 is the range msgpackr leaves to applications.
 */
export const EXT_ACTOR_REF = 0x41; // 'A': a handle on an actor instance held by one worker
export const EXT_DEPENDENCY_REF = 0x44; // 'D': a task dependency placeholder inside encoded args
export const EXT_ERROR = 0x45; // 'E': an Error with stack, own props and cause
export const EXT_FRAME_REF = 0x46; // 'F': a binary that travels as its own wire frame
export const EXT_LONE_BINARY = 0x4c; // 'L': a large binary encoded on its own, its bytes 8-aligned
export const EXT_MAP = 0x4d; // 'M': a Map (msgpack maps decode as plain objects)
export const EXT_UNENCODABLE = 0x58; // 'X': never written; guards classes that must not be encoded
export const EXT_NEGATIVE_ZERO = 0x5a; // 'Z': -0, which msgpack integers cannot express
