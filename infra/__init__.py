"""Local Kafka + schema registry stack (Maven Central jars or Docker) and `cfkafka dev`."""
