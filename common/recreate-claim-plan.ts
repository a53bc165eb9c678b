/**
 * The recreate-claim runbook's input, plan and result, and its pure planning: the guide's fix for a
 * claim stuck creating ("DynamoDB Table Creation Failures", step 5: delete and recreate the resource
 * claim), for tables that hold no data. Deleting the claim deletes every table it owns and this
 * runbook keeps no backup, so it refuses when any of them holds an item: that is the DynamoDB
 * recovery's job (`runbook recover-dynamodb`). Pure code (the workflow imports it).
 */
import type { ClaimInfo, TableSnapshot, WriterState } from './dynamodb-backup';
import { recreateRefusal, tablesLeftByClaimDeletion } from './dynamodb-recovery-plan';
import { validateReason } from './rollback';
import type { RunbookOptions } from './runbook';

export interface RecreateClaimInput {
  instance: string;
  reason: string;
  /** How long to wait for the claim's deletion and for the recreated claim to be Ready (default 10 minutes each). */
  claimTimeoutMs?: number;
  options: RunbookOptions;
}

export interface RecreateClaimPlanTable {
  tableName: string;
  exists: boolean;
  status?: string;
  /** Counted by a consistent Scan: the run is refused unless every one is 0. */
  items: number;
  managedBy?: string;
  /** Deleted with the claim, or left in place (empty) and taken over by the recreated claim's Table of the same name. */
  onDelete: 'deleted with the claim' | 'left in place (empty)' | 'missing';
}

export interface RecreateClaimPlan {
  instance: string;
  claim: {
    name: string;
    namespace: string;
    uid: string;
    composite?: string;
    /** Recreated from exactly this spec (and labels). */
    spec: Record<string, unknown>;
    labels: Record<string, string>;
    action: 'delete-and-recreate';
    conditions: ClaimInfo['conditions'];
  };
  tables: RecreateClaimPlanTable[];
  /** Why the claim is stuck (or that it is not), from its conditions, its Tables' and the tables. */
  stuck: string[];
  /** Stopped before the last emptiness check and the delete, restored at the end: nothing writes in between. */
  writers: { quiesce: true; apiDeployment?: { name: string; replicas: number }; cronJob?: { name: string; suspended: boolean } };
  autoSync: { application: string; automated: boolean; selfHeal: boolean; pausedDuringRun: boolean };
  refusals: string[];
}

export interface RecreateClaimDetails {
  claim: { name: string; deletedUid: string; uid: string };
  /** Every table before (empty or missing) and after (ACTIVE, compared item by item: empty). */
  tables: { tableName: string; existedBefore: boolean; itemsBefore: number; itemsAfter: number; digestBefore: string; digestAfter: string; status: string }[];
  durations: { deleteSeconds: number; recreateSeconds: number };
}

export function validateRecreateClaimInput(input: RecreateClaimInput): { reason: string } {
  return { reason: validateReason(input.reason) };
}

/** The refusal when a table holds items: this runbook would lose them; the recovery backs them up and restores them. */
export function notEmptyRefusal(instance: string, holding: { tableName: string; items?: number }[]): string {
  const which = holding.map((t) => (t.items !== undefined ? `${t.tableName} holds ${t.items} item${t.items === 1 ? '' : 's'}` : `${t.tableName} holds items`)).join(', ');
  return (
    `${which}: deleting the claim deletes every table it owns and recreate-claim keeps no backup, so it only recreates claims whose tables are empty. ` +
    `To recreate the claim keeping the data, run: runbook recover-dynamodb ${instance}`
  );
}

/** Why the claim is stuck, in words: its own conditions, its Tables' failing conditions, tables missing or not ACTIVE. */
export function stuckReasons(claim: ClaimInfo, snapshots: TableSnapshot[]): string[] {
  const reasons: string[] = [];
  for (const c of claim.conditions) {
    if ((c.type === 'Ready' || c.type === 'Synced') && c.status !== 'True') reasons.push(`claim ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`);
  }
  if (!claim.conditions.some((c) => c.type === 'Ready')) reasons.push('claim has no Ready condition yet');
  if (!claim.composite) reasons.push('claim has no composite resource');
  for (const t of claim.managedTableStatus ?? []) {
    for (const c of t.conditions) {
      if ((c.type === 'Ready' || c.type === 'Synced') && c.status !== 'True') reasons.push(`Table ${t.name} (${t.tableName}) ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`);
    }
    // provider-aws takes over a table of the same name whatever its keys, and reports it Ready: the guide's name conflict.
    const live = snapshots.find((s) => s.tableName === t.tableName)?.definition?.keySchema;
    const keys = (k: { name: string; type: string }[]) => k.map((x) => `${x.name} ${x.type}`).join(', ');
    if (t.keySchema && live) {
      const wanted = keys(t.keySchema.map((k) => ({ name: k.attributeName, type: k.keyType })));
      const has = keys(live.map((k) => ({ name: k.AttributeName, type: k.KeyType })));
      if (wanted !== has) {
        reasons.push(
          `table ${t.tableName} has key ${has}, but its Table ${t.name} wants ${wanted}: a table of that name existed before the claim and was taken over (name conflict); ` +
            'recreating the claim deletes it (it is empty) and creates it as the Table says',
        );
      }
    }
  }
  for (const s of snapshots) {
    if (!s.exists) reasons.push(`table ${s.tableName} does not exist`);
    else if (s.status !== 'ACTIVE') reasons.push(`table ${s.tableName} is ${s.status ?? 'in an unknown state'}`);
  }
  return reasons;
}

export interface RecreateClaimFacts {
  instance: string;
  claim: ClaimInfo;
  /** Every table the claim owns, in order (ownedTables). */
  owned: string[];
  snapshots: TableSnapshot[];
  writers: WriterState;
  app: { name: string; automatedSync: boolean; selfHeal: boolean };
}

export function buildRecreateClaimPlan(facts: RecreateClaimFacts): RecreateClaimPlan {
  const { claim, instance } = facts;
  const leftBehind = tablesLeftByClaimDeletion(facts.owned, facts.snapshots, claim.managedTables);
  const tables = facts.owned.map((tableName): RecreateClaimPlanTable => {
    const s = facts.snapshots.find((x) => x.tableName === tableName) ?? { tableName, exists: false };
    return {
      tableName,
      exists: s.exists,
      ...(s.status ? { status: s.status } : {}),
      items: s.itemCount ?? 0,
      ...(claim.managedTables.find((t) => t.tableName === tableName) ? { managedBy: claim.managedTables.find((t) => t.tableName === tableName)!.name } : {}),
      onDelete: !s.exists ? 'missing' : leftBehind.includes(tableName) ? 'left in place (empty)' : 'deleted with the claim',
    };
  });
  const refusals: string[] = [];
  const holding = tables.filter((t) => t.items > 0);
  if (holding.length > 0) refusals.push(notEmptyRefusal(instance, holding));
  const cannot = recreateRefusal(claim);
  if (cannot) refusals.push(cannot);
  const stuck = stuckReasons(claim, facts.snapshots);
  return {
    instance,
    claim: { name: claim.name, namespace: claim.namespace, uid: claim.uid, composite: claim.composite?.name, spec: claim.spec, labels: claim.labels, action: 'delete-and-recreate', conditions: claim.conditions },
    tables,
    stuck: stuck.length > 0 ? stuck : ['the claim is Synced and Ready and every table ACTIVE: nothing looks stuck (recreating it anyway empties nothing, its tables are empty)'],
    writers: { quiesce: true, apiDeployment: facts.writers.apiDeployment, cronJob: facts.writers.cronJob },
    autoSync: { application: facts.app.name, automated: facts.app.automatedSync, selfHeal: facts.app.selfHeal, pausedDuringRun: facts.app.automatedSync },
    refusals,
  };
}
