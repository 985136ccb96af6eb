// Runtime-agnostic (Web Crypto): names the policy in force, for the audit log and the admin page.

/** `sha256:<hex of the policy file text>`; the agreement version travels beside it. */
export async function policyVersion(policy: { sourceText: string; agreement: { version: string } }) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(policy.sourceText));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { sha256: hex, agreement: policy.agreement.version, label: `sha256:${hex.slice(0, 12)} (agreement ${policy.agreement.version})` };
}

export type PolicyVersion = Awaited<ReturnType<typeof policyVersion>>;
