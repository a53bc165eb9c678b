/**
 * One canary per form a secret takes in real logs and manifests, each beside a harmless value that
 * redaction must keep. The unit test (test/unit/redact.test.ts) runs them through common/redact.ts; the
 * bundle test (test/diagnostic-bundle.test.ts) plants them in an instance's pods (env, args,
 * annotations, logs) and ConfigMap (data, binaryData) and looks for them in the downloaded archive.
 */

interface TextCanary {
  form: string;
  /** A line (or lines) as a log, a config file or an env value holds it. */
  text: string;
  /** What must not survive redaction. */
  secrets: string[];
  /** What must. */
  keep: string[];
}

interface ObjectCanary {
  form: string;
  object: unknown;
  secrets: string[];
  keep: string[];
}

/** `prefix` followed by `fill` repeated to exactly `length` characters. */
const shaped = (prefix: string, fill: string, length: number) => (prefix + fill.repeat(length)).slice(0, length);

export const CANARY = {
  postgres: 'pgCanary7731',
  mongo: 'mongoCanary8842',
  redis: 'redisCanary9953',
  basic: 'YmFzaWNDYW5hcnk6eHl6cXc=',
  bearer: 'opaqueBearerCanary1234',
  tokenScheme: 'tokenSchemeCanary5501',
  xApiKey: 'xApiKeyCanary6612',
  apiKeyHeader: 'apiKeyHeaderCanary7723',
  amzToken: 'FwoGZXIvYXdzEAmzSecurityTokenCanary8834',
  jwt: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnQ2FuYXJ5OTk0NQ',
  pemLine1: 'MIIEowIBAAKCAQEApemCanaryLineOne0123456789abcdefABCDEF',
  pemLine2: 'W9pemCanaryLineTwo0123456789abcdefABCDEFghijklmnopqrs==',
  pemNoEnd: 'MIIEvQIBADANpemCanaryNoEndLine0123456789',
  pemNoBegin1: 'MIIEpAIBAAKCpemCanaryNoBeginLineOne012345',
  pemNoBegin2: 'Q7pemCanaryNoBeginLineTwo0123456789abcdef==',
  pemEscaped: 'MIIEvAIBADANpemCanaryEscapedJson0123456789',
  pemFlat: 'MHcCAQEEIpemCanaryFlattenedOneLine0123456789',
  ghp: shaped('ghp_ghpCanary', 'A1b2', 40),
  gho: shaped('gho_ghoCanary', 'C3d4', 40),
  githubPat: shaped('github_pat_11PatCanary_', 'E5f6', 93),
  slackBot: 'xoxb-1234567890-0987654321-slackBotCanaryAbCd',
  slackUser: 'xoxp-2234567890-1987654321-slackUserCanaryEf',
  slackWebhook: 'T000CANARY/B000CANARY/slackHookCanaryGh12',
  google: shaped('AIzaSyGoogleCanary', 'x7Y8', 39),
  googleSecret: 'GOCSPX-googleOauthSecretCanary',
  awsKeyId: 'AKIACANARY0123456789',
  awsSecret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYKEY1',
  awsSecretBare: 'Zq8Tr2mLp0Xc5Vb7Nn4Hh6Jj1Kk9Ll3Pp/Oo+Ii2',
  secretKeyCamel: 'camelSecretKeyCanary01',
  clientSecretJson: 'client secret canary with spaces 02',
  clientSecretSnake: 'snakeClientSecretCanary03',
  secretKeyEnv: 'envSecretKeyCanary04',
  passwordFlag: 'passwordFlagCanary05',
  tokenFlag: 'tokenFlagCanary06',
  queryPassword: 'queryPasswordCanary07',
  escapedJson: 'escapedJsonPasswordCanary08',
  envByName: 'envByNameCanary09',
  argPassword: 'argPasswordCanary10',
  argToken: 'argTokenCanary11',
  annotationByName: 'annotationByNameCanary12',
  binary: 'binaryDataCanary13',
  helmParameter: 'helmParameterCanary14',
  fieldSecret: 'fieldClientSecretCanary15',
} as const;

const text: TextCanary[] = [
  { form: 'postgres connection string', text: `DATABASE_URL=postgres://vc_app:${CANARY.postgres}@db.internal:5432/vc?sslmode=require`, secrets: [CANARY.postgres], keep: ['vc_app', 'db.internal:5432/vc?sslmode=require'] },
  { form: 'mongodb+srv connection string', text: `connecting to mongodb+srv://admin:${CANARY.mongo}@cluster0.example.net/vc`, secrets: [CANARY.mongo], keep: ['cluster0.example.net/vc'] },
  { form: 'redis URL with an empty user', text: `cache redis://:${CANARY.redis}@cache:6379/0 ready`, secrets: [CANARY.redis], keep: ['cache:6379/0 ready'] },
  { form: 'Authorization: Basic', text: `Authorization: Basic ${CANARY.basic}\nUser-Agent: curl/8.5`, secrets: [CANARY.basic], keep: ['User-Agent: curl/8.5', 'Basic'] },
  { form: 'authorization: Bearer (opaque)', text: `{"authorization": "Bearer ${CANARY.bearer}", "accept": "application/json"}`, secrets: [CANARY.bearer], keep: ['"accept": "application/json"'] },
  { form: 'Authorization: Token', text: `Authorization: Token ${CANARY.tokenScheme}`, secrets: [CANARY.tokenScheme], keep: ['Token'] },
  { form: 'X-API-Key header', text: `X-API-Key: ${CANARY.xApiKey}\nX-Request-Id: req-42`, secrets: [CANARY.xApiKey], keep: ['X-Request-Id: req-42'] },
  { form: 'api-key header', text: `headers={'api-key': '${CANARY.apiKeyHeader}', 'content-type': 'json'}`, secrets: [CANARY.apiKeyHeader], keep: ["'content-type': 'json'"] },
  { form: 'x-amz-security-token header', text: `x-amz-security-token: ${CANARY.amzToken}\nx-amz-date: 20260101T000000Z`, secrets: [CANARY.amzToken], keep: ['x-amz-date: 20260101T000000Z'] },
  { form: 'JWT', text: `session ${CANARY.jwt} expired for user 42`, secrets: [CANARY.jwt, CANARY.jwt.split('.')[2]!], keep: ['expired for user 42'] },
  {
    form: 'PEM private key (multi-line)',
    text: `loading key\n-----BEGIN RSA PRIVATE KEY-----\n${CANARY.pemLine1}\n${CANARY.pemLine2}\n-----END RSA PRIVATE KEY-----\nkey loaded`,
    secrets: [CANARY.pemLine1, CANARY.pemLine2],
    keep: ['loading key', 'key loaded'],
  },
  { form: 'PEM private key cut off before its END line', text: `-----BEGIN PRIVATE KEY-----\n${CANARY.pemNoEnd}\nkey reading stopped`, secrets: [CANARY.pemNoEnd], keep: ['key reading stopped'] },
  {
    form: 'PEM private key whose BEGIN line a log tail cut off',
    text: `${CANARY.pemNoBegin1}\n${CANARY.pemNoBegin2}\n-----END RSA PRIVATE KEY-----\nkey loaded again`,
    secrets: [CANARY.pemNoBegin1, CANARY.pemNoBegin2],
    keep: ['key loaded again'],
  },
  { form: 'PEM private key flattened onto one line', text: `TLS_KEY=-----BEGIN EC PRIVATE KEY----- ${CANARY.pemFlat} -----END EC PRIVATE KEY----- TLS_PORT=8443`, secrets: [CANARY.pemFlat], keep: ['TLS_PORT=8443'] },
  { form: 'PEM private key inside JSON, cut off', text: `{"private_key_id": "k1", "pem": "-----BEGIN PRIVATE KEY-----\\n${CANARY.pemEscaped}\\n", "client_email": "sa@vc.example"}`, secrets: [CANARY.pemEscaped], keep: ['"client_email": "sa@vc.example"'] },
  { form: 'GitHub ghp_ token', text: `git clone https://x-access-token@github.example/vc.git using ${CANARY.ghp} now`, secrets: [CANARY.ghp], keep: ['now'] },
  { form: 'GitHub gho_ token', text: `oauth ${CANARY.gho}`, secrets: [CANARY.gho], keep: ['oauth'] },
  { form: 'GitHub fine-grained token', text: `GH=${CANARY.githubPat} ok`, secrets: [CANARY.githubPat], keep: ['ok'] },
  { form: 'Slack bot token', text: `slack client ${CANARY.slackBot} connected`, secrets: [CANARY.slackBot], keep: ['connected'] },
  { form: 'Slack user token', text: `"${CANARY.slackUser}"`, secrets: [CANARY.slackUser], keep: [] },
  { form: 'Slack webhook URL', text: `notify https://hooks.slack.com/services/${CANARY.slackWebhook} sent`, secrets: [CANARY.slackWebhook, 'slackHookCanaryGh12'], keep: ['sent'] },
  { form: 'Google API key', text: `maps key=${CANARY.google};region=eu`, secrets: [CANARY.google], keep: ['region=eu'] },
  { form: 'Google OAuth client secret', text: `oauth client ${CANARY.googleSecret} loaded`, secrets: [CANARY.googleSecret], keep: ['loaded'] },
  { form: 'AWS access key ID', text: `using key ${CANARY.awsKeyId} in us-west-2`, secrets: [CANARY.awsKeyId], keep: ['in us-west-2'] },
  { form: 'AWS secret access key (assignment)', text: `aws_secret_access_key = ${CANARY.awsSecret}\nregion = us-west-2`, secrets: [CANARY.awsSecret], keep: ['region = us-west-2'] },
  { form: 'AWS secret access key (bare)', text: `creds ${CANARY.awsSecretBare} end`, secrets: [CANARY.awsSecretBare], keep: ['creds', 'end'] },
  { form: 'secretKey (camelCase)', text: `secretKey: ${CANARY.secretKeyCamel}\nbucket: media`, secrets: [CANARY.secretKeyCamel], keep: ['bucket: media'] },
  { form: 'clientSecret (JSON, quoted with spaces)', text: `{"clientId": "vc-web", "clientSecret": "${CANARY.clientSecretJson}"}`, secrets: [CANARY.clientSecretJson, 'with spaces 02'], keep: ['"clientId": "vc-web"'] },
  { form: 'client_secret (snake_case)', text: `client_secret=${CANARY.clientSecretSnake}&grant_type=client_credentials`, secrets: [CANARY.clientSecretSnake], keep: ['grant_type'] },
  { form: 'SECRET_KEY (env style)', text: `export SECRET_KEY=${CANARY.secretKeyEnv} DEBUG=0`, secrets: [CANARY.secretKeyEnv], keep: ['DEBUG=0'] },
  { form: '--password value', text: `exec app --password ${CANARY.passwordFlag} --port 8080`, secrets: [CANARY.passwordFlag], keep: ['--port 8080'] },
  { form: '--token=value', text: `exec app --token=${CANARY.tokenFlag} --verbose`, secrets: [CANARY.tokenFlag], keep: ['--verbose'] },
  { form: 'password in a query string', text: `GET /login?user=ann&password=${CANARY.queryPassword}&next=/home 302`, secrets: [CANARY.queryPassword], keep: ['user=ann', 'next=/home 302'] },
  { form: 'password in JSON inside a JSON string', text: `{"msg": "{\\"password\\": \\"${CANARY.escapedJson}\\", \\"user\\": \\"ann\\"}"}`, secrets: [CANARY.escapedJson], keep: ['\\"user\\": \\"ann\\"'] },
];

const objects: ObjectCanary[] = [
  {
    form: 'env values scanned whatever their name',
    object: { env: [{ name: 'DATABASE_URL', value: `postgres://vc_app:${CANARY.postgres}@db:5432/vc` }, { name: 'NOTES', value: `token ${CANARY.ghp}` }, { name: 'LOG_LEVEL', value: 'info' }] },
    secrets: [CANARY.postgres, CANARY.ghp],
    keep: ['info', 'db:5432/vc'],
  },
  { form: 'env value under a secret-looking name', object: { env: [{ name: 'STRIPE_API_KEY', value: CANARY.envByName }, { name: 'AWS_REGION', value: 'us-west-2' }] }, secrets: [CANARY.envByName], keep: ['us-west-2'] },
  { form: '--password value in container args', object: { args: ['--password', CANARY.argPassword, '--port', '8080'] }, secrets: [CANARY.argPassword], keep: ['--port', '8080'] },
  { form: '--token=value in container args', object: { args: [`--token=${CANARY.argToken}`, '--verbose'] }, secrets: [CANARY.argToken], keep: ['--verbose'] },
  { form: 'annotation under a secret-looking name', object: { metadata: { annotations: { 'vc.example/webhook-token': CANARY.annotationByName, 'vc.example/owner': 'team-coffee' } } }, secrets: [CANARY.annotationByName], keep: ['team-coffee'] },
  {
    form: 'ConfigMap binaryData',
    object: { data: { 'log.level': 'info' }, binaryData: { 'keystore.p12': Buffer.from(`keystore ${CANARY.binary}`).toString('base64') } },
    secrets: [Buffer.from(`keystore ${CANARY.binary}`).toString('base64'), CANARY.binary],
    keep: ['keystore.p12', 'log.level', 'info'],
  },
  { form: 'Helm parameter with a secret-looking name', object: { helm: { parameters: [{ name: 'db.password', value: CANARY.helmParameter }, { name: 'replicas', value: '2' }] } }, secrets: [CANARY.helmParameter], keep: ['replicas'] },
  { form: 'clientSecret field in any object', object: { spec: { oidc: { clientId: 'vc-web', clientSecret: CANARY.fieldSecret, secretName: 'oidc-credentials' } } }, secrets: [CANARY.fieldSecret], keep: ['vc-web', 'oidc-credentials'] },
];

export const REDACTION_CANARIES = { text, objects };

/** Every canary string: none may appear anywhere in a bundle. */
export const ALL_CANARIES: string[] = [...new Set([...text, ...objects].flatMap((c) => c.secrets))];
