// as-pect (AssemblyScript unit tests) configuration: specs in assembly/__tests__/, compiled with
// as-pect.asconfig.json (SIMD enabled like the release build in asconfig.json).
module.exports = {
  entries: ['assembly/__tests__/**/*.spec.ts'],
  include: ['assembly/__tests__/**/*.include.ts'],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
