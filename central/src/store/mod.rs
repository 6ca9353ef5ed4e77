//! Object storage for images: the local filesystem by default, any
//! S3-compatible service with `s3://` (the `object_store` crate either way).
//!
//! Content-addressed: an image lives at `images/<sha256>`, written once; a
//! second put of the same bytes is harmless, which is what makes at-least-once
//! delivery and two instances racing on one image safe. Chunks of images
//! being assembled wait under `parts/<sha256>/<index>`.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::StoreConfig;

#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Where parts wait: the same store on S3; on a filesystem the same
    /// folder without `fsync` (a part lost in a power cut makes its image
    /// fail assembly: dropped, and asked for again by completeness — never a
    /// wrong image); a whole image is flushed to disk before its row says it
    /// is stored.
    parts: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Store {
    pub fn open(cfg: &StoreConfig) -> Result<Self, object_store::Error> {
        match cfg {
            StoreConfig::File { root } => {
                std::fs::create_dir_all(root).map_err(|e| object_store::Error::Generic {
                    store: "file",
                    source: format!("cannot create {}: {e}", root.display()).into(),
                })?;
                // Empty `parts/<sha256>/` folders go with their last part.
                let images = object_store::local::LocalFileSystem::new_with_prefix(root)?
                    .with_automatic_cleanup(true)
                    .with_fsync(true);
                let parts =
                    object_store::local::LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true);
                Ok(Store { inner: Arc::new(images), parts: Arc::new(parts), prefix: String::new() })
            }
            StoreConfig::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(*allow_http)
                    .with_virtual_hosted_style_request(false);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(k) = access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
                let s3: Arc<dyn ObjectStore> = Arc::new(b.build()?);
                Ok(Store { inner: s3.clone(), parts: s3, prefix })
            }
        }
    }

    fn path(&self, rel: &str) -> Path {
        Path::from(format!("{}{rel}", self.prefix))
    }

    pub fn image_key(&self, sha256: &str) -> String {
        format!("{}images/{}/{sha256}", self.prefix, &sha256[..2])
    }

    pub async fn put_image(&self, sha256: &str, bytes: Bytes) -> Result<String, object_store::Error> {
        let key = self.image_key(sha256);
        self.inner.put(&Path::from(key.clone()), PutPayload::from_bytes(bytes)).await?;
        Ok(key)
    }

    /// The image's bytes as a stream, for answering HTTP without holding a
    /// 4 MB scan in memory per request.
    pub async fn image_stream(
        &self,
        object_key: &str,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, object_store::Error>>), object_store::Error> {
        let got = self.inner.get(&Path::from(object_key)).await?;
        let size = got.meta.size;
        Ok((size, got.into_stream().boxed()))
    }

    pub async fn image_bytes(&self, object_key: &str) -> Result<Bytes, object_store::Error> {
        self.inner.get(&Path::from(object_key)).await?.bytes().await
    }

    pub async fn delete_image(&self, object_key: &str) -> Result<(), object_store::Error> {
        match self.inner.delete(&Path::from(object_key)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    pub async fn put_part(&self, sha256: &str, index: u32, bytes: Bytes) -> Result<(), object_store::Error> {
        let path = self.path(&format!("parts/{sha256}/{index:06}"));
        self.parts.put(&path, PutPayload::from_bytes(bytes)).await.map(|_| ())
    }

    pub async fn get_part(&self, sha256: &str, index: u32) -> Result<Bytes, object_store::Error> {
        self.parts.get(&self.path(&format!("parts/{sha256}/{index:06}"))).await?.bytes().await
    }

    /// Drops every chunk of an image (assembled, expired or refused).
    pub async fn delete_parts(&self, sha256: &str, chunks: u32) -> Result<(), object_store::Error> {
        for i in 0..chunks {
            match self.parts.delete(&self.path(&format!("parts/{sha256}/{i:06}"))).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Checks the store answers (at start, so a wrong URL fails loudly).
    pub async fn probe(&self) -> Result<(), object_store::Error> {
        let path = self.path("probe/lane-central");
        self.inner.put(&path, PutPayload::from_static(b"ok")).await?;
        self.inner.get(&path).await?.bytes().await.map(|_| ())
    }
}
