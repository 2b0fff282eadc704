"""The archive of originals: every stored picture's JPEG copied to a folder or to S3.

`python -m server.archive run` is the archiver (a worker reading the `images:new` stream
through a consumer group, catching up from the index); `python -m server.archive restore`
rebuilds hashes from the archive. No Flask: it runs on a Pi too, with `pip install '.[archive]'`.
See the README, "Archive".

- settings.py: the ARCHIVE_* settings, read once and validated;
- backends.py: the file:// and s3:// stores (put, open with ranges, list, delete);
- layout.py: object names and the JSON sidecar;
- archiver.py: the worker; retention.py: deletion by age and size;
- restore.py: hashes back from the archive.
"""
