import { GetBucketLocationCommand, GetBucketVersioningCommand, HeadBucketCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BackupBucketStatus } from '../../common/instance-status';

export interface S3ActivityDeps {
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
}

export function createS3Activities({ s3, backupBucket, expectedBucketOwner }: S3ActivityDeps) {
  return {
    /** Whether the backup bucket exists and is ours; read-only. */
    async checkBackupBucket(): Promise<BackupBucketStatus> {
      const owner = { Bucket: backupBucket, ExpectedBucketOwner: expectedBucketOwner };
      try {
        await s3.send(new HeadBucketCommand(owner));
      } catch (err) {
        if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) {
          return { bucket: backupBucket, exists: false };
        }
        throw err;
      }
      const [versioning, location] = await Promise.all([
        s3.send(new GetBucketVersioningCommand(owner)),
        s3.send(new GetBucketLocationCommand(owner)),
      ]);
      return {
        bucket: backupBucket,
        exists: true,
        versioning: versioning.Status ?? 'Disabled',
        // S3 reports us-east-1 as an empty location constraint.
        region: location.LocationConstraint || 'us-east-1',
      };
    },
  };
}
