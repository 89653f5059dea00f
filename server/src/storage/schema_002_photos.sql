-- Schema version 2: photos. A photo's metadata is a fact (kind 'photo', body the core's Photo
-- JSON); its bytes are files under the data directory (server/src/photos.rs). Uploads and
-- downloads look photos up by content address.
CREATE INDEX facts_photo_sha ON facts (json_extract(body, '$.sha256')) WHERE kind = 'photo';
