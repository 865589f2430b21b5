"""Ports and their DynamoDB adapters. boto3 lives here and nowhere above."""
