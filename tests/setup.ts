// Runs in every vitest worker before the test files (vitest.config.ts setupFiles).
// Dawn's OpenGL backend on a headless machine finds no X/Wayland display: Mesa's EGL then needs
// the surfaceless platform. Setting it here (not only in CI) makes `npx vitest run` work locally.
// process.env assignment calls setenv, so the native addon sees it when it initializes EGL.
process.env.EGL_PLATFORM ??= 'surfaceless';
