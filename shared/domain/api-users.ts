import { z } from 'zod';

/**
 * Who may call the API when it checks ID tokens itself (BATON_API_AUTH=firebase): IAM-style
 * members, `user:<email>` or `domain:<domain>` (the email's part after @). Groups cannot be
 * checked without the Directory API, so they are refused here rather than silently ignored.
 */
const Member = z.union([
  z
    .string()
    .regex(/^user:[^@\s,]+@[^@\s,]+$/)
    .transform((m) => ({ kind: 'user' as const, value: m.slice(5).toLowerCase() })),
  z
    .string()
    .regex(/^domain:[a-z0-9.-]+\.[a-z]{2,}$/i)
    .transform((m) => ({ kind: 'domain' as const, value: m.slice(7).toLowerCase() })),
]);
export type ApiUser = z.infer<typeof Member>;

const ListedUsers = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const out: ApiUser[] = [];
    for (const raw of s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const m = Member.safeParse(raw);
      if (m.success) out.push(m.data);
      else ctx.addIssue({ code: 'custom', message: `"${raw}" is not user:<email> or domain:<domain> (groups cannot be checked here)` });
    }
    return out;
  });

/** The list as BATON_API_USERS gives it (a string), or as parsed already (re-parsing a parsed config keeps it). */
export const ApiUsersSchema = z.preprocess(
  (v) => (Array.isArray(v) ? (v as ApiUser[]).map((u) => `${u.kind}:${u.value}`).join(',') : v),
  ListedUsers,
);

/** Whether a verified email is one of the users (exact, case-insensitive) or in one of the domains. */
export function isApiUser(users: readonly ApiUser[], email: string): boolean {
  const e = email.toLowerCase();
  const domain = e.slice(e.lastIndexOf('@') + 1);
  return users.some((u) => (u.kind === 'user' ? u.value === e : u.value === domain));
}
