/** test/seeded-random.js: mulberry32, numbers in [0, 1) from a seed. */
export function rng(seed: number): () => number;
