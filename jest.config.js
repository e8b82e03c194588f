/** ESM TypeScript through ts-jest; see shared notes/toolchain.md for why each line is here. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true, tsconfig: 'tsconfig.json' }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Integration tests start real children; give them room on a 2-core machine.
  testTimeout: 60000,
  // Two workers: the machine has two cores and children need CPU too.
  maxWorkers: 2,
};
