/** The demo's one product and its reviews: fixed data, so every answer is predictable. */

export const PRODUCT = {
  id: 0,
  title: 'The Comedy of Errors',
  description:
    "Wikipedia Summary: The Comedy of Errors is one of William Shakespeare's early plays. It is his shortest and one of his most farcical comedies.",
} as const;

export const DETAILS = {
  author: 'William Shakespeare',
  year: 1595,
  type: 'paperback',
  pages: 200,
  publisher: 'PublisherA',
  language: 'English',
  'ISBN-10': '1234567890',
  'ISBN-13': '123-1234567890',
} as const;

export const REVIEWS: readonly { reviewer: string; text: string }[] = [
  { reviewer: 'Reviewer1', text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!' },
  { reviewer: 'Reviewer2', text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.' },
];

export const RATINGS: Readonly<Record<string, number>> = { Reviewer1: 5, Reviewer2: 4 };

/** `/prefix/<integer>` → the integer, or undefined. */
export function idFromPath(path: string, prefix: string): number | undefined {
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  return /^\d{1,9}$/.test(rest) ? Number(rest) : undefined;
}
