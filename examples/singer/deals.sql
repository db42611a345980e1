CREATE TABLE deals (
  region     text,
  id         integer,
  name       text,
  stage      text,
  owner      text,
  amount     numeric(12, 2),
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (region, id)
);
INSERT INTO deals VALUES
  ('emea', 1, 'Acme renewal', 'negotiation', 'jane.smith@acme.com', 42000, '2026-06-10T14:03:00Z'),
  ('emea', 2, 'Northwind', 'closed_won', 'mark.lee@acme.com', 12500.5, '2026-06-10T15:21:00Z'),
  ('apac', 1, 'Globex', 'new', NULL, NULL, '2026-06-10T16:00:00+08:00');
