DROP TABLE IF EXISTS revocations;
