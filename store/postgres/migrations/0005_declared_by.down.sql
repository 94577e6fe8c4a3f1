ALTER TABLE clients DROP COLUMN declared_by;
