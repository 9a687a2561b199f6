/** The message layer (RFC 3261 §7, §19, §20, §25): parse, inspect, build, serialize. */
export * from './headers';
export * from './message';
export * from './name-addr';
export * from './params';
export * from './parser';
export * from './response';
export * from './serializer';
export * from './uri';
export * from './via';
