// The seeded generators live in ts/util/kv-data.ts (`kvpack conformance` ships them).
export * from '../../ts/util/kv-data.js';
