import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../common/config';

describe('config loader', () => {
  it('reads Temporal mTLS and API key settings from the environment, as deploy/worker.yaml documents', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vcp-tls-'));
    for (const name of ['tls.crt', 'tls.key', 'ca.crt']) writeFileSync(path.join(dir, name), `-----BEGIN ${name}-----\n`);
    const mtls = loadConfig({
      TEMPORAL_ADDRESS: 'ops.tmprl.cloud:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'tls.crt'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'tls.key'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'ca.crt'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    }).temporal.connection;
    const tls = mtls.tls as { serverNameOverride?: string; clientCertPair?: { crt: Uint8Array; key: Uint8Array }; serverRootCACertificate?: Uint8Array };
    const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString();
    expect(tls.serverNameOverride).toBe('temporal.internal');
    expect(text(tls.clientCertPair?.crt)).toBe('-----BEGIN tls.crt-----\n');
    expect(text(tls.clientCertPair?.key)).toBe('-----BEGIN tls.key-----\n');
    expect(text(tls.serverRootCACertificate)).toBe('-----BEGIN ca.crt-----\n');
    const cloud = loadConfig({ TEMPORAL_ADDRESS: 'ops.tmprl.cloud:7233', TEMPORAL_API_KEY: 'key-123' }).temporal.connection;
    expect(cloud.apiKey).toBe('key-123');
    expect(cloud.tls).toBeTruthy();
  });

  it('defaults to the local stack and the vcp-runbooks task queue', () => {
    const config = loadConfig({});
    expect(config.temporal.connection.address).toBe('127.0.0.1:7233');
    expect(config.temporal.namespace).toBe('default');
    expect(config.temporal.taskQueue).toBe('vcp-runbooks');
    expect(config.aws.region).toBe('us-west-2');
    expect(config.aws.s3ForcePathStyle).toBe(false);
    expect(config.worker.metricsBindAddress).toBeUndefined();
  });

  it('reads the ecosystem variables: TEMPORAL_*, AWS_*, KUBECONFIG', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_NAMESPACE: 'ops',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      KUBECONFIG: '/tmp/kubeconfig',
      VCP_BACKUP_BUCKET: 'ops-backups',
      VCP_METRICS_ADDRESS: '0.0.0.0:9464',
    });
    expect(config.temporal.connection.address).toBe('temporal.example:7233');
    expect(config.temporal.namespace).toBe('ops');
    expect(config.aws.region).toBe('eu-west-1');
    expect(config.aws.s3ForcePathStyle).toBe(true);
    expect(config.aws.backupBucket).toBe('ops-backups');
    expect(config.kubernetes.kubeconfig).toBe('/tmp/kubeconfig');
    expect(config.worker.metricsBindAddress).toBe('0.0.0.0:9464');
  });

  it('reads VCP_ALLOWED_SOURCE_BUCKETS as a comma-separated list of bucket names, empty by default', () => {
    expect(loadConfig({}).aws.allowedSourceBuckets).toEqual([]);
    expect(loadConfig({ VCP_ALLOWED_SOURCE_BUCKETS: 'team-backups, old-backups' }).aws.allowedSourceBuckets).toEqual(['team-backups', 'old-backups']);
    expect(() => loadConfig({ VCP_ALLOWED_SOURCE_BUCKETS: 'ok-bucket,Bad_Bucket' })).toThrow(/VCP_ALLOWED_SOURCE_BUCKETS: "Bad_Bucket" is not a valid S3 bucket name/);
  });

  it('fails fast naming every bad setting at once', () => {
    const load = () =>
      loadConfig({ VCP_BACKUP_BUCKET: 'Not_A_Bucket', VCP_METRICS_ADDRESS: 'nine', VCP_EXPECTED_BUCKET_OWNER: 'me' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/VCP_BACKUP_BUCKET.*\n.*VCP_EXPECTED_BUCKET_OWNER.*\n.*VCP_METRICS_ADDRESS/);
  });
});
