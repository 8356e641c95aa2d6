import Sequencer from '@jest/test-sequencer';

/** test/seeded-sequencer.js: the integration suite's file order (seeded shuffle, reverse or path). */
declare class SeededSequencer extends Sequencer {}
export default SeededSequencer;
