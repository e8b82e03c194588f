/** Hand-written after looking at the figures and profiles: what the tables do not say by themselves. */
export const FINDINGS = `
(to be written)
`;
