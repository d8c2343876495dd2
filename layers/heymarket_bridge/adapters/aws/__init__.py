"""The AWS adapters: SQS, Secrets Manager, SSM parameters, and the DynamoDB tables."""
