\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.6'" to load this file. \quit

-- pgapp 1.6: the leftovers session 9 noted.  Each section below restates,
-- as released, the objects that 1.6 changes in sql/pgapp/.
