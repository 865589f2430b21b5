"""The embedded local runtime: moto for AWS, and local stand-ins for what moto cannot run.

Only what moto cannot run is emulated here: API Gateway → Lambda (with the authorizer), SQS → Lambda.
Everything is derived from ``template.yaml``.
"""
