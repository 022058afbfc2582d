process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
const { createHash } = await import('node:crypto');
const mk = (x) => new S3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9410', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', credentials: { accessKeyId: 'test', secretAccessKey: 'testsecret' }, ...x });
const body = Buffer.alloc(32 * 2 ** 20, 3); for (let i = 0; i < body.length; i += 4096) body[i] = i & 255;
const sha = createHash('sha256').update(body).digest('hex');
for (const [label, c, known] of [['default', mk({}), false], ['noexpect', mk({ expectContinueHeader: false }), false], ['noexpect+sha', mk({ expectContinueHeader: false }), true], ['default+sha', mk({}), true]]) {
  for (let r = 0; r < 3; r++) {
    const cmd = new PutObjectCommand({ Bucket: 'cairn-bench', Key: `tmp-put/${label}-${r}`, Body: body, ContentLength: body.length });
    if (known) cmd.middlewareStack.add((next) => (args) => { args.request.headers['x-amz-content-sha256'] = sha; return next(args); }, { step: 'build', name: 'k' });
    const t = performance.now(); await c.send(cmd); console.log(label, (performance.now() - t).toFixed(0), 'ms');
  }
}
