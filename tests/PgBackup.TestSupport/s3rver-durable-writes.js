'use strict';
// Preloaded into the tests' s3rver (node --require). s3rver answers a PutObject / UploadPart as soon as its hashing
// Transform has seen the last byte, before the file write stream has written it: a HEAD or a CompleteMultipartUpload
// right after can see a short (often empty) file. Real S3 is read-after-write consistent, so PgBackup's post-upload
// length check rightly failed the backup ("holds 0 bytes after the upload") when the machine was loaded. This makes
// s3rver answer only once the bytes are in the file, as S3 does.
const fs = require('fs');
const path = require('path');

const storePath = path.join(process.env.PGBACKUP_TEST_NODE_MODULES, 's3rver', 'lib', 'stores', 'filesystem.js');
const FilesystemStore = require(storePath);

async function waitForSize(file, size) {
  for (let attempt = 0; attempt < 3000; attempt++) {
    const stat = await fs.promises.stat(file);
    if (stat.size >= size) return;
    await new Promise(resolve => setTimeout(resolve, 5));
  }
  throw new Error(`s3rver-durable-writes: ${file} did not reach ${size} bytes`);
}

const putObject = FilesystemStore.prototype.putObject;
FilesystemStore.prototype.putObject = async function (object) {
  const result = await putObject.call(this, object);
  await waitForSize(this.getResourcePath(object.bucket, object.key, 'object'), result.size);
  return result;
};

const putPart = FilesystemStore.prototype.putPart;
FilesystemStore.prototype.putPart = async function (bucket, uploadId, partNumber, content) {
  const result = await putPart.call(this, bucket, uploadId, partNumber, content);
  const partPath = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, partNumber.toString());
  await waitForSize(partPath, result.size);
  return result;
};
