-- A vector an import dropped (its paper's text changed), kept until the import ends: a later
-- batch of the same file that puts the text back (the paper twice in the file) puts the
-- vector back instead of leaving it to be made again (PaperRepo._upsert).
ALTER TABLE import_undo ADD COLUMN vector BLOB;
ALTER TABLE import_undo ADD COLUMN vector_text INTEGER;  -- text_hash of the text it was made of
