import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { ActivityDeps } from '../activities';
import type { RunbooksConfig } from '../common/config';

/**
 * Builds the real clients the activities use. Endpoints and credentials come from the AWS SDK's own
 * default chain (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, profiles, IRSA, ...).
 */
export function createActivityDeps(config: RunbooksConfig): ActivityDeps & { close: () => void } {
  const dynamodb = new DynamoDBClient({ region: config.aws.region });
  const s3 = new S3Client({ region: config.aws.region, forcePathStyle: config.aws.s3ForcePathStyle });
  return {
    dynamodb,
    s3,
    backupBucket: config.aws.backupBucket,
    expectedBucketOwner: config.aws.expectedBucketOwner,
    close: () => {
      dynamodb.destroy();
      s3.destroy();
    },
  };
}
