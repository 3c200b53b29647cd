-- nps_extract (plugins/nps/extract): the document-lines tables carry no foreign key to their documents.
-- The key checks cost 5x on every load (a row lock on the parent for each of a million lines: 118k lines took
-- 4.0 s with the key, 0.8 s without), and add no protection here: the loader writes a document and its lines in
-- one transaction, replaces the lines only of documents it has just written, and never deletes a document.
-- dbt's relationship tests check the link on the models.
alter table raw.onec_order_lines drop constraint if exists onec_order_lines_order_ref_fkey;
alter table raw.onec_sale_lines drop constraint if exists onec_sale_lines_sale_ref_fkey;
