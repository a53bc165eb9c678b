/** The guide's "Infrastructure Issues": AWS credentials, and DynamoDB tables the claim does not create. */
import { dynamodbClaimName } from '../instance';
import type { Condition } from '../platform';
import { DYNAMODB_CLAIM } from '../platform';
import { RUNBOOKS } from '../definitions';
import { GUIDE_SECTIONS } from '../triage';
import type { Finding } from '../triage';
import { condition, describeCondition, known, objectRef } from './evidence';
import type { TriageEvidence } from './evidence';

/** Error codes and texts AWS and the provider give for credentials that are wrong, expired or not allowed. */
const CREDENTIAL_ERROR = /AccessDenied|InvalidClientTokenId|UnrecognizedClientException|ExpiredToken|SignatureDoesNotMatch|InvalidSignatureException|security token included in the request is invalid|cannot get credentials|credentials? (?:secret|not found|expired)/i;
/** Quota and throughput errors the guide names under table creation. */
const QUOTA_ERROR = /LimitExceededException|ProvisionedThroughputExceeded|ThrottlingException|quota|limit exceeded/i;
const NAME_CONFLICT_ERROR = /ResourceInUseException|already exists/i;
/** Crossplane's Ready=False reasons while a claim and its composite are still being made. */
const CLAIM_PROGRESS_REASONS = new Set(['Creating', 'Waiting']);
/** How long a claim may be creating its tables before triage calls it stuck (tables take a minute or two). */
const CLAIM_CREATION_GRACE_MS = 5 * 60 * 1000;

/** crossplane-runtime's annotations around a create: a table that has neither was found, not created. */
const EXTERNAL_CREATE_SUCCEEDED = 'crossplane.io/external-create-succeeded';
const EXTERNAL_CREATE_PENDING = 'crossplane.io/external-create-pending';

interface Conditioned {
  kind: string;
  name: string;
  namespace?: string;
  conditions: Condition[];
}

function crossplaneObjects(e: TriageEvidence): Conditioned[] {
  return [
    ...(e.claim ? [{ kind: 'VirtualCoffeeDynamoDBClaim', name: e.claim.metadata.name, namespace: e.instance, conditions: e.claim.status?.conditions ?? [] }] : []),
    ...(e.composite ? [{ kind: e.composite.kind ?? 'XVirtualCoffeeDynamoDB', name: e.composite.metadata.name, conditions: e.composite.status?.conditions ?? [] }] : []),
    ...e.managedTables.map((t) => ({ kind: 'Table', name: t.metadata.name, conditions: t.status?.conditions ?? [] })),
  ];
}

/** Conditions not True whose message matches `pattern`. */
function failingConditions(objects: Conditioned[], pattern: RegExp) {
  return objects.flatMap((o) =>
    o.conditions.filter((c) => c.status !== 'True' && pattern.test(`${c.reason ?? ''} ${c.message ?? ''}`)).map((c) => ({ object: o, condition: c })),
  );
}

export function awsCredentials(e: TriageEvidence): Finding[] {
  const section = GUIDE_SECTIONS.awsCredentials;
  const findings: Finding[] = [];
  const identity = e.callerIdentity;
  if (identity && !identity.ok) {
    findings.push({
      id: 'aws-credentials/caller-identity',
      analyzer: 'aws-credentials',
      severity: 'critical',
      title: `AWS rejects the runbooks' credentials (sts get-caller-identity: ${identity.code})`,
      evidence: [{ object: 'sts', field: 'GetCallerIdentity', value: `${identity.code}: ${identity.message}` }],
      guideSection: section,
      remedy: 'Renew the credentials (make create-aws-secret ...) and check their IAM permissions',
    });
  }
  for (const provider of e.providers ?? []) {
    const bad = ['Installed', 'Healthy'].map((type) => condition(provider.conditions, type)).filter((c): c is Condition => c !== undefined && c.status !== 'True');
    if (bad.length === 0) continue;
    findings.push({
      id: `aws-credentials/provider-unhealthy/${provider.name}`,
      analyzer: 'aws-credentials',
      severity: 'error',
      title: `Crossplane provider ${provider.name} is not healthy`,
      evidence: bad.map((c) => ({ object: objectRef('Provider', provider.name), field: `status.conditions[${c.type}]`, value: describeCondition(c) })),
      guideSection: section,
      ...(provider.name.startsWith('provider-aws') ? { fix: { runbook: RUNBOOKS.restart, target: 'provider-aws' as const } } : {}),
    });
  }
  const rejected = failingConditions(crossplaneObjects(e), CREDENTIAL_ERROR);
  if (rejected.length > 0) {
    findings.push({
      id: `aws-credentials/rejected/${dynamodbClaimName(e.instance)}`,
      analyzer: 'aws-credentials',
      severity: 'critical',
      title: `AWS rejects the provider's credentials for ${rejected.length} Crossplane object${rejected.length === 1 ? '' : 's'} of ${e.instance}`,
      evidence: rejected.map(({ object, condition: c }) => ({ object: objectRef(object.kind, object.name, object.namespace), field: `status.conditions[${c.type}]`, value: describeCondition(c) })),
      guideSection: section,
      fix: { runbook: RUNBOOKS.restart, target: 'provider-aws' },
      remedy: 'Renew the AWS credentials secret the ProviderConfig names, then restart the provider',
    });
  }
  return findings;
}

export function tableCreation(e: TriageEvidence): Finding[] {
  const section = GUIDE_SECTIONS.tableCreation;
  const claimName = dynamodbClaimName(e.instance);
  const claimRef = objectRef(DYNAMODB_CLAIM.kind, claimName, e.instance);
  const findings: Finding[] = [];
  if (e.xrd === 'missing') {
    findings.push({
      id: 'table-creation/xrd-missing',
      analyzer: 'table-creation',
      severity: 'critical',
      title: 'The claim\'s CompositeResourceDefinition does not exist',
      evidence: [{ object: 'CompositeResourceDefinition xvirtualcoffeedynamodbs.virtualcoffee.io', value: 'not found' }],
      guideSection: section,
      remedy: 'Install the platform\'s Crossplane definitions (kubectl get xrd)',
    });
  } else if (e.xrd) {
    const bad = ['Established', 'Offered'].map((type) => condition(e.xrd !== 'missing' ? e.xrd?.conditions : [], type)).filter((c): c is Condition => c !== undefined && c.status !== 'True');
    if (bad.length > 0) {
      findings.push({
        id: 'table-creation/xrd-not-established',
        analyzer: 'table-creation',
        severity: 'critical',
        title: `CompositeResourceDefinition ${e.xrd.name} is not established`,
        evidence: bad.map((c) => ({ object: objectRef('CompositeResourceDefinition', (e.xrd as { name: string }).name), field: `status.conditions[${c.type}]`, value: describeCondition(c) })),
        guideSection: section,
      });
    }
  }
  if (!e.claim) {
    if (!known(e, 'claim')) return findings;
    findings.push({
      id: `table-creation/claim-missing/${claimName}`,
      analyzer: 'table-creation',
      severity: 'error',
      title: `The DynamoDB claim ${claimName} does not exist`,
      evidence: [{ object: claimRef, value: 'not found' }],
      guideSection: section,
      remedy: `make deploy-instance INSTANCE=${e.instance}`,
    });
    return findings;
  }
  const ready = condition(e.claim.status?.conditions, 'Ready');
  if (ready?.status !== 'True' && !e.claim.metadata.deletionTimestamp) {
    const objects = crossplaneObjects(e);
    const quota = failingConditions(objects, QUOTA_ERROR);
    const notReady = objects.flatMap((o) => o.conditions.filter((c) => c.status !== 'True').map((c) => ({ object: o, condition: c })));
    const shown = quota.length > 0 ? quota : notReady;
    // A claim is "Creating" for a while as a matter of course; stuck is an error said by Crossplane, or too long.
    // Ready=False Creating/Waiting carry a message too ("Claim is waiting for composite resource to
    // become Ready"): that is progress, not Crossplane saying what is wrong.
    const failing = objects.some((o) => o.conditions.some((c) => c.status === 'False' && c.message && !(c.type === 'Ready' && CLAIM_PROGRESS_REASONS.has(c.reason ?? ''))));
    const age = e.collectedAt && e.claim.metadata.creationTimestamp ? Date.parse(e.collectedAt) - Date.parse(e.claim.metadata.creationTimestamp) : Infinity;
    const stuck = failing || quota.length > 0 || age > CLAIM_CREATION_GRACE_MS;
    findings.push({
      id: `table-creation/claim-not-ready/${claimName}`,
      analyzer: 'table-creation',
      severity: stuck ? 'error' : 'info',
      title:
        quota.length > 0
          ? `The claim ${claimName} is stuck on AWS quota or throughput limits`
          : stuck
            ? `The claim ${claimName} is not Ready${ready ? ` (${ready.reason ?? ready.status})` : ''}`
            : `The claim ${claimName} is still creating its tables`,
      evidence: (shown.length > 0 ? shown : [{ object: objects[0]!, condition: ready ?? { type: 'Ready', status: 'Unknown' as const } }]).map(({ object, condition: c }) => ({
        object: objectRef(object.kind, object.name, object.namespace),
        field: `status.conditions[${c.type}]`,
        value: describeCondition(c),
      })),
      guideSection: section,
      ...(stuck ? { fix: { runbook: RUNBOOKS.recreateClaim } } : {}),
      remedy: quota.length > 0 ? 'Raise the DynamoDB quota (aws service-quotas get-service-quota --service-code dynamodb --quota-code L-F98FE922) before recreating' : undefined,
    });
  }
  for (const table of e.managedTables) {
    const name = table.metadata.annotations?.['crossplane.io/external-name'] ?? table.metadata.name;
    const conflict = (table.status?.conditions ?? []).find((c) => c.status !== 'True' && NAME_CONFLICT_ERROR.test(c.message ?? ''));
    const annotations = table.metadata.annotations ?? {};
    const adopted = condition(table.status?.conditions, 'Ready')?.status === 'True' && !annotations[EXTERNAL_CREATE_SUCCEEDED] && !annotations[EXTERNAL_CREATE_PENDING];
    if (!conflict && !adopted) continue;
    findings.push({
      id: `table-creation/name-conflict/${name}`,
      analyzer: 'table-creation',
      severity: conflict ? 'error' : 'warning',
      title: conflict
        ? `Table ${name} cannot be created: the name is taken`
        : `Table ${name} existed before the claim: Crossplane adopted it instead of creating it (a name conflict with another owner?)`,
      evidence: [
        conflict
          ? { object: objectRef('Table', table.metadata.name), field: `status.conditions[${conflict.type}]`, value: describeCondition(conflict) }
          : { object: objectRef('Table', table.metadata.name), field: `metadata.annotations[${EXTERNAL_CREATE_SUCCEEDED}]`, value: 'absent: the provider found the table, it did not create it' },
      ],
      guideSection: section,
      remedy: `aws dynamodb describe-table --table-name ${name}: find who else uses the name before deleting anything`,
    });
  }
  return findings;
}
