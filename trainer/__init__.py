"""Train, evaluate and publish the spam model to the S3 registry."""
