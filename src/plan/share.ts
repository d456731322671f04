import { partitionOf } from "../config/regions.js";
import type { PipelineData, ShareSettings, ToolsetData } from "../config/types.js";
import { parameterNamesFor, TAG } from "./names.js";
import type { Action, LaunchPermission, Observed, ObservedRegion, OurAmi } from "./types.js";

/** The RAM resource share that carries a region's parameters (one per region, owned by this account). */
export const PARAMETER_SHARE_NAME = "ops-rig-parameters";
/** Name of ops-rig's grant on a copy key for one member account (CreateGrant's idempotency key). */
export const KEY_GRANT_PREFIX = "ops-rig-share-";

/**
 * What a member account needs from the copy key to launch from an AMI whose snapshots it encrypts
 * (EC2 user guide, "Share an AMI with encrypted snapshots"): EC2 creates a grant for the volume.
 */
export const MEMBER_KEY_OPERATIONS = [
  "Decrypt",
  "DescribeKey",
  "CreateGrant",
  "GenerateDataKeyWithoutPlaintext",
  "ReEncryptFrom",
  "ReEncryptTo",
] as const;

export function permissionKey(p: LaunchPermission): string {
  return `${p.kind}:${p.id}`;
}

/** The launch permissions `share:` asks for (none when sharing is off). */
export function wantedPermissions(share: ShareSettings | undefined): LaunchPermission[] {
  if (!share) return [];
  return [
    ...(share.organizationArn ? [{ kind: "organization" as const, id: share.organizationArn }] : []),
    ...share.organizationalUnitArns.map((id) => ({ kind: "organizational-unit" as const, id })),
    ...share.accountIds.map((id) => ({ kind: "account" as const, id })),
  ];
}

/** RAM principals: organization and OU ARNs and account ids, as written. */
export function wantedPrincipals(share: ShareSettings | undefined): string[] {
  return wantedPermissions(share).map((p) => p.id);
}

export function parameterArn(region: string, accountId: string, name: string): string {
  return `arn:${partitionOf(region) ?? "aws"}:ssm:${region}:${accountId}:parameter${name}`;
}

/** `resolve:ssm:` form a member account uses: shared parameters are only reachable by full ARN. */
export function memberResolveName(region: string, accountId: string, name: string): string {
  return `resolve:ssm:${parameterArn(region, accountId, name)}`;
}

/** Which AMIs should be launchable by the member accounts: available, and never withdrawn ones. */
export function shareable(ami: OurAmi): boolean {
  return (
    ami.state === "available" && ami.tags[TAG.withdrawn] === undefined && ami.tags[TAG.rollback] === undefined
  );
}

/** Organization id (`o-...`) from an organization or OU ARN. */
function organizationIdOf(arn: string): string | undefined {
  return /:(?:organization|ou)\/(o-[a-z0-9]+)/.exec(arn)?.[1];
}

/**
 * Whether a key policy lets the organization or OU use the key: an Allow statement conditioned on
 * `aws:PrincipalOrgID` naming the organization, or on `aws:PrincipalOrgPaths` covering the OU (or
 * the whole organization). KMS grants cannot name an organization, so the key policy is the only way
 * (EC2 user guide: share an AMI with organizations or OUs). Deliberately strict: what it cannot read
 * as allowing counts as not allowing, and sharing waits with an error that says what to add.
 */
export function keyPolicyAllows(policy: string | undefined, permission: LaunchPermission): boolean {
  if (!policy) return false;
  const orgId = organizationIdOf(permission.id);
  if (!orgId) return false;
  const ouId = permission.kind === "organizational-unit" ? permission.id.split("/").pop() : undefined;
  let document: unknown;
  try {
    document = JSON.parse(policy);
  } catch {
    return false;
  }
  const statements = (document as { Statement?: unknown }).Statement;
  const list = Array.isArray(statements) ? statements : statements ? [statements] : [];
  return list.some((statement: Record<string, unknown>) => {
    if (statement.Effect !== "Allow") return false;
    const actions = [statement.Action].flat().filter((a): a is string => typeof a === "string");
    const usable = ["kms:Decrypt", "kms:CreateGrant"].every((needed) =>
      actions.some((a) => a === needed || a === "kms:*" || a === "*"),
    );
    if (!usable) return false;
    const conditions = (statement.Condition ?? {}) as Record<string, Record<string, unknown>>;
    const values = (key: string) =>
      Object.values(conditions).flatMap((byKey) =>
        Object.entries(byKey ?? {})
          .filter(([k]) => k.toLowerCase() === key.toLowerCase())
          .flatMap(([, v]) => [v].flat())
          .filter((v): v is string => typeof v === "string"),
      );
    if (values("aws:PrincipalOrgID").includes(orgId)) return true;
    return values("aws:PrincipalOrgPaths").some((path) => {
      const parts = path.replace(/\/\*?$/, "").split("/");
      if (parts[0] !== orgId) return false;
      // The organization root (o-x/r-x) covers every OU; otherwise the OU must be on the path.
      return parts.length <= 2 || (ouId !== undefined && parts.includes(ouId));
    });
  });
}

interface ShareInput {
  readonly pipeline: PipelineData;
  readonly toolsets: readonly ToolsetData[];
  readonly observed: Observed;
  /** Parameters that this plan already publishes (they are promoted by their publish, not here). */
  readonly publishing: ReadonlySet<string>;
}

/**
 * Sharing as state: per (line, region) the launch permissions of the line's AMIs, and per region
 * the parameters' RAM share and the copy key's grants, moved to what `share:` says. Without `share:`
 * whatever ops-rig shared is unshared. Pure, like the rest of the planner.
 */
export function planSharing(input: ShareInput): Action[] {
  const { pipeline, observed } = input;
  const share = pipeline.share;
  const actions: Action[] = [];
  const wanted = wantedPermissions(share);
  for (const region of observed.regions) {
    if (region.error || !region.sharing) {
      if (share && region.sharingError && !region.error) {
        const line = observed.lines[0]?.line;
        if (line)
          actions.push({
            kind: "skip",
            line,
            region: region.region,
            reason: `sharing state could not be read: ${region.sharingError}`,
            error: true,
          });
      }
      continue;
    }
    const sharing = region.sharing;
    // Organization and OU permissions only where the key policy lets their accounts decrypt:
    // a shared AMI they cannot decrypt fails every launch with an opaque error.
    const blocked = wanted.filter(
      (p) =>
        (p.kind === "organization" || p.kind === "organizational-unit") &&
        !keyPolicyAllows(sharing.key?.policy, p),
    );
    const granted = wanted.filter((p) => !blocked.includes(p));
    let anchor: Action["line"] | undefined;
    for (const observedLine of observed.lines) {
      const toolset = input.toolsets.find((t) => t.name === observedLine.line.toolset);
      if (!toolset) continue;
      anchor ??= observedLine.line;
      const images = planImages(region, observedLine.line, granted, blocked);
      if (images.length > 0)
        actions.push({
          kind: "share",
          line: observedLine.line,
          region: region.region,
          images,
          reason: images
            .map(
              (i) =>
                `${i.imageId}${i.add.length ? ` +${i.add.map((p) => p.id).join(" +")}` : ""}${i.remove.length ? ` -${i.remove.map((p) => p.id).join(" -")}` : ""}`,
            )
            .join(", "),
        });
    }
    if (!anchor) continue;
    if (blocked.length > 0 && share)
      actions.push({
        kind: "skip",
        line: anchor,
        region: region.region,
        error: true,
        reason: `not sharing AMIs with ${blocked.map((p) => p.id).join(", ")}: the policy of key ${sharing.key?.arn ?? pipeline.copy.kmsKeys[region.region] ?? "(none)"} does not let them use it (allow kms:Decrypt, kms:CreateGrant, ... with aws:PrincipalOrgID or aws:PrincipalOrgPaths: see README, "Sharing with other accounts")`,
      });
    const regionAction = planRegion(input, region, anchor);
    if (regionAction) actions.push(regionAction);
  }
  return actions;
}

function planImages(
  region: ObservedRegion,
  line: Action["line"],
  granted: readonly LaunchPermission[],
  blocked: readonly LaunchPermission[],
): Extract<Action, { kind: "share" }>["images"][number][] {
  const sharing = region.sharing;
  if (!sharing) return [];
  const images: Extract<Action, { kind: "share" }>["images"][number][] = [];
  const blockedKeys = new Set(blocked.map(permissionKey));
  for (const ami of region.amis) {
    if (
      ami.tags[TAG.toolset] !== line.toolset ||
      ami.tags[TAG.base] !== line.base ||
      ami.tags[TAG.arch] !== line.arch
    )
      continue;
    const current = sharing.launchPermissions.get(ami.imageId);
    if (current === undefined) continue;
    const want = shareable(ami) ? granted : [];
    const have = new Set(current.map(permissionKey));
    const wantKeys = new Set(want.map(permissionKey));
    const add = want.filter((p) => !have.has(permissionKey(p)));
    // A permission the key policy does not cover yet is left as it is (not added, not removed).
    const remove = current.filter(
      (p) => !wantKeys.has(permissionKey(p)) && !(shareable(ami) && blockedKeys.has(permissionKey(p))),
    );
    if (add.length === 0 && remove.length === 0) continue;
    images.push({
      imageId: ami.imageId,
      add,
      remove,
      tag: add.length > 0 && ami.tags[TAG.shared] === undefined,
    });
  }
  return images;
}

function planRegion(
  input: ShareInput,
  region: ObservedRegion,
  anchor: Action["line"],
): Extract<Action, { kind: "share-region" }> | undefined {
  const { pipeline, observed } = input;
  const sharing = region.sharing;
  if (!sharing) return undefined;
  const share = pipeline.share;
  const reasons: string[] = [];

  let parameters: Extract<Action, { kind: "share-region" }>["parameters"];
  const existing = sharing.parameterShare;
  if (share || existing) {
    const principals = wantedPrincipals(share);
    const names = share
      ? input.toolsets.flatMap((toolset) =>
          observed.lines
            .filter((l) => l.line.toolset === toolset.name)
            .flatMap((l) => parameterNamesFor(pipeline.parameterPrefix, toolset, l.line)),
        )
      : [];
    // Only parameters that exist can be shared; one being published now is shared on the next run.
    const wantedNames = [...new Set(names)].filter(
      (name) => region.parameters.has(name) && !input.publishing.has(`${region.region}\u0000${name}`),
    );
    const arnOf = (name: string) => parameterArn(region.region, observed.accountId, name);
    const wantedArns = new Set(wantedNames.map(arnOf));
    const haveArns = new Set(existing?.resources ?? []);
    const havePrincipals = new Set(existing?.principals ?? []);
    const addPrincipals = principals.filter((p) => !havePrincipals.has(p));
    const removePrincipals = [...havePrincipals].filter((p) => !principals.includes(p));
    const addNames = wantedNames.filter((name) => !haveArns.has(arnOf(name)));
    const addResources = addNames.map(arnOf);
    // Stopped sharing: the principals go; the parameters stay associated with the (empty) share,
    // which also records that they are advanced now (the tier cannot go back).
    const removeResources = share ? [...haveArns].filter((arn) => !wantedArns.has(arn)) : [];
    const create =
      share !== undefined && existing === undefined && (principals.length > 0 || addNames.length > 0);
    if (
      create ||
      addPrincipals.length ||
      removePrincipals.length ||
      addResources.length ||
      removeResources.length
    ) {
      parameters = {
        ...(existing ? { shareArn: existing.arn } : {}),
        name: PARAMETER_SHARE_NAME,
        addPrincipals,
        removePrincipals,
        addResources,
        removeResources,
        promote: addNames.map((name) => ({ name, value: region.parameters.get(name)?.value ?? "" })),
      };
      if (create) reasons.push(`create RAM share ${PARAMETER_SHARE_NAME}`);
      if (addPrincipals.length) reasons.push(`share parameters with ${addPrincipals.join(", ")}`);
      if (removePrincipals.length)
        reasons.push(`stop sharing parameters with ${removePrincipals.join(", ")}`);
      if (addResources.length) reasons.push(`share ${addNames.join(", ")}`);
      if (removeResources.length) reasons.push(`unshare ${removeResources.length} parameter(s)`);
    }
  }

  let key: Extract<Action, { kind: "share-region" }>["key"];
  if (sharing.key) {
    const accounts = share?.accountIds ?? [];
    const have = new Set(sharing.key.grants.map((g) => g.accountId));
    const grantAccounts = accounts.filter((a) => !have.has(a));
    const revokeGrants = sharing.key.grants.filter((g) => !accounts.includes(g.accountId));
    if (grantAccounts.length || revokeGrants.length) {
      key = { arn: sharing.key.arn, grantAccounts, revokeGrants };
      if (grantAccounts.length) reasons.push(`grant key use to ${grantAccounts.join(", ")}`);
      if (revokeGrants.length)
        reasons.push(`revoke key grants of ${revokeGrants.map((g) => g.accountId).join(", ")}`);
    }
  }
  if (!parameters && !key) return undefined;
  return {
    kind: "share-region",
    line: anchor,
    region: region.region,
    ...(parameters ? { parameters } : {}),
    ...(key ? { key } : {}),
    reason: reasons.join("; "),
  };
}
