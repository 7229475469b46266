//! The WinFsp callbacks (through `winfsp_wrs`): each parses WinFsp's values with the
//! platform-neutral helpers of this crate, calls one [`PathFs`] method and converts the
//! answer. Compiled on Windows only (type-checked in CI with pre-generated bindings; never
//! run on the project's Linux machines, see docs/platforms.md).

use std::sync::Arc;

use secvol_fs::{Attr, FsError, Listed, NodeHandle, PathFs, Times, WINDOWS_OWNER, WinAttrs};
use winfsp_wrs::{
    CleanupFlags, CreateFileInfo, CreateOptions, DirInfo, FileAccessRights, FileAttributes,
    FileInfo, FileSystemInterface, NTSTATUS, PSecurityDescriptor, SecurityDescriptor, U16CStr,
    U16CString, U16Str, VolumeInfo, WriteMode,
};

use crate::convert::{
    file_attributes, filetime, new_kind, open_request, stored_attributes, timestamp,
};
use crate::names::{container_path, windows_name};
use crate::ntstatus::{self, STATUS_INVALID_PARAMETER, status};

/// `STATUS_END_OF_FILE`: a read at or past the end of the file.
const STATUS_END_OF_FILE: NTSTATUS = 0xC000_0011_u32 as i32;

/// Entries fetched per round of a directory listing.
const LISTING_BATCH: usize = 256;

/// One open file or directory (WinFsp keeps one per handle a program opened).
pub(crate) struct OpenNode {
    handle: NodeHandle,
}

/// The file system as WinFsp sees it.
pub(crate) struct Adapter {
    pub(crate) api: PathFs,
    pub(crate) label: Vec<u16>,
    pub(crate) security: SecurityDescriptor,
}

fn fs_err(err: FsError) -> NTSTATUS {
    status(&err)
}

fn path_of(name: &U16CStr) -> Result<Vec<u8>, NTSTATUS> {
    container_path(name.as_slice()).map_err(fs_err)
}

/// The file information WinFsp caches and hands to programs.
fn file_info(attr: &Attr) -> FileInfo {
    let mut info = FileInfo::default();
    info.set_file_attributes(FileAttributes(file_attributes(attr)))
        .set_file_size(attr.size)
        .set_allocation_size(attr.size.div_ceil(4096) * 4096)
        .set_creation_time(filetime(attr.crtime))
        .set_last_access_time(filetime(attr.atime))
        .set_last_write_time(filetime(attr.mtime))
        .set_change_time(filetime(attr.ctime))
        .set_index_number(attr.ino)
        .set_hard_links(0);
    info
}

impl Adapter {
    fn attr_info(&self, node: &OpenNode) -> Result<FileInfo, NTSTATUS> {
        Ok(file_info(&self.api.attr(node.handle).map_err(fs_err)?))
    }

    fn listed_info(listed: &Listed) -> Option<DirInfo> {
        let name = windows_name(&listed.name)?;
        let name = U16CString::from_vec(name).ok()?;
        Some(DirInfo::new(file_info(&listed.attr), &name))
    }
}

impl FileSystemInterface for Adapter {
    type FileContext = Arc<OpenNode>;

    const GET_VOLUME_INFO_DEFINED: bool = true;
    const GET_SECURITY_BY_NAME_DEFINED: bool = true;
    const CREATE_DEFINED: bool = true;
    const OPEN_DEFINED: bool = true;
    const OVERWRITE_DEFINED: bool = true;
    const CLEANUP_DEFINED: bool = true;
    const CLOSE_DEFINED: bool = true;
    const READ_DEFINED: bool = true;
    const WRITE_DEFINED: bool = true;
    const FLUSH_DEFINED: bool = true;
    const GET_FILE_INFO_DEFINED: bool = true;
    const SET_BASIC_INFO_DEFINED: bool = true;
    const SET_FILE_SIZE_DEFINED: bool = true;
    const CAN_DELETE_DEFINED: bool = true;
    const SET_DELETE_DEFINED: bool = true;
    const RENAME_DEFINED: bool = true;
    const GET_SECURITY_DEFINED: bool = true;
    const SET_SECURITY_DEFINED: bool = true;
    const READ_DIRECTORY_DEFINED: bool = true;

    fn get_volume_info(&self) -> Result<VolumeInfo, NTSTATUS> {
        let info = self.api.volume_info().map_err(fs_err)?;
        VolumeInfo::new(
            info.total_bytes,
            info.free_bytes,
            U16Str::from_slice(&self.label),
        )
        .map_err(|_| STATUS_INVALID_PARAMETER)
    }

    fn get_security_by_name(
        &self,
        file_name: &U16CStr,
        _find_reparse_point: impl Fn() -> Option<FileAttributes>,
    ) -> Result<(FileAttributes, PSecurityDescriptor, bool), NTSTATUS> {
        let attr = self.api.stat(&path_of(file_name)?).map_err(fs_err)?;
        Ok((
            FileAttributes(file_attributes(&attr)),
            self.security.as_ptr(),
            false,
        ))
    }

    fn create(
        &self,
        file_name: &U16CStr,
        create_file_info: CreateFileInfo,
        _security_descriptor: SecurityDescriptor,
    ) -> Result<(Self::FileContext, FileInfo), NTSTATUS> {
        let path = path_of(file_name)?;
        let options = create_file_info.create_options.0;
        let kind = new_kind(options);
        let perm = match kind {
            secvol_fs::NewKind::Directory => 0o755,
            secvol_fs::NewKind::File => 0o644,
        };
        let mut attrs = WinAttrs::from_bits_truncate(create_file_info.file_attributes.0);
        if kind == secvol_fs::NewKind::File {
            attrs = attrs.union(WinAttrs::ARCHIVE);
        }
        let opened = self
            .api
            .create(&path, kind, perm, attrs, WINDOWS_OWNER)
            .map_err(fs_err)?;
        let request = open_request(options, create_file_info.granted_access.0);
        if request.delete_on_close {
            self.api
                .set_delete_on_close(opened.handle, true)
                .map_err(|e| ntstatus::cannot_delete_status(&e))?;
        }
        Ok((
            Arc::new(OpenNode {
                handle: opened.handle,
            }),
            file_info(&opened.attr),
        ))
    }

    fn open(
        &self,
        file_name: &U16CStr,
        create_options: CreateOptions,
        granted_access: FileAccessRights,
    ) -> Result<(Self::FileContext, FileInfo), NTSTATUS> {
        let path = path_of(file_name)?;
        let request = open_request(create_options.0, granted_access.0);
        let opened = self
            .api
            .open(&path, request.expect, request.write)
            .map_err(fs_err)?;
        if request.delete_on_close
            && let Err(err) = self.api.set_delete_on_close(opened.handle, true)
        {
            let _ = self.api.close(opened.handle, None);
            return Err(ntstatus::cannot_delete_status(&err));
        }
        Ok((
            Arc::new(OpenNode {
                handle: opened.handle,
            }),
            file_info(&opened.attr),
        ))
    }

    fn overwrite(
        &self,
        file_context: Self::FileContext,
        file_attributes: FileAttributes,
        replace_file_attributes: bool,
        _allocation_size: u64,
    ) -> Result<FileInfo, NTSTATUS> {
        let attrs = WinAttrs::from_bits_truncate(file_attributes.0);
        let attr = self
            .api
            .overwrite(file_context.handle, attrs, replace_file_attributes)
            .map_err(fs_err)?;
        Ok(file_info(&attr))
    }

    fn cleanup(
        &self,
        file_context: Self::FileContext,
        file_name: Option<&U16CStr>,
        flags: CleanupFlags,
    ) {
        // WinFsp deletes at the last cleanup of a handle marked for deletion, so the name is
        // gone before the handle is closed.
        if flags.is(CleanupFlags::DELETE)
            && let Some(name) = file_name
            && let Ok(path) = path_of(name)
            && let Err(err) = self.api.remove(file_context.handle, &path)
        {
            log::warn!("could not delete {}: {err}", name.display());
        }
    }

    fn close(&self, file_context: Self::FileContext) {
        if let Err(err) = self.api.close(file_context.handle, None) {
            log::warn!("closing a handle: {err}");
        }
    }

    fn read(
        &self,
        file_context: Self::FileContext,
        buffer: &mut [u8],
        offset: u64,
    ) -> Result<usize, NTSTATUS> {
        let len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        let data = self
            .api
            .read(file_context.handle, offset, len)
            .map_err(fs_err)?;
        if data.is_empty() && !buffer.is_empty() {
            return Err(STATUS_END_OF_FILE);
        }
        buffer[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    fn write(
        &self,
        file_context: Self::FileContext,
        buffer: &[u8],
        mode: WriteMode,
    ) -> Result<(usize, FileInfo), NTSTATUS> {
        let handle = file_context.handle;
        let (written, attr) = match mode {
            WriteMode::Normal { offset } => (
                buffer.len(),
                self.api
                    .write(handle, offset, buffer, false)
                    .map_err(fs_err)?,
            ),
            WriteMode::ConstrainedIO { offset } => self
                .api
                .write_within(handle, offset, buffer)
                .map_err(fs_err)?,
            WriteMode::WriteToEOF => (
                buffer.len(),
                self.api.write(handle, 0, buffer, true).map_err(fs_err)?,
            ),
        };
        Ok((written, file_info(&attr)))
    }

    fn flush(&self, file_context: Self::FileContext) -> Result<FileInfo, NTSTATUS> {
        self.api.flush(Some(file_context.handle)).map_err(fs_err)?;
        self.attr_info(&file_context)
    }

    fn get_file_info(&self, file_context: Self::FileContext) -> Result<FileInfo, NTSTATUS> {
        self.attr_info(&file_context)
    }

    fn set_basic_info(
        &self,
        file_context: Self::FileContext,
        file_attributes: FileAttributes,
        creation_time: u64,
        last_access_time: u64,
        last_write_time: u64,
        change_time: u64,
    ) -> Result<FileInfo, NTSTATUS> {
        let handle = file_context.handle;
        if let Some(attrs) = stored_attributes(file_attributes.0) {
            self.api.set_win_attrs(handle, attrs).map_err(fs_err)?;
        }
        let times = Times {
            created: timestamp(creation_time),
            accessed: timestamp(last_access_time),
            written: timestamp(last_write_time),
            changed: timestamp(change_time),
        };
        Ok(file_info(
            &self.api.set_times(handle, times).map_err(fs_err)?,
        ))
    }

    fn set_file_size(
        &self,
        file_context: Self::FileContext,
        new_size: u64,
        set_allocation_size: bool,
    ) -> Result<FileInfo, NTSTATUS> {
        let handle = file_context.handle;
        let current = self.api.attr(handle).map_err(fs_err)?;
        // Allocation size is a hint: only a smaller one cuts the file (space is not
        // preallocated in a container).
        let attr = if !set_allocation_size || new_size < current.size {
            self.api.set_size(handle, new_size).map_err(fs_err)?
        } else {
            current
        };
        Ok(file_info(&attr))
    }

    fn can_delete(
        &self,
        file_context: Self::FileContext,
        _file_name: &U16CStr,
    ) -> Result<(), NTSTATUS> {
        self.api
            .can_delete(file_context.handle)
            .map_err(|e| ntstatus::cannot_delete_status(&e))
    }

    fn set_delete(
        &self,
        file_context: Self::FileContext,
        _file_name: &U16CStr,
        delete_file: bool,
    ) -> Result<(), NTSTATUS> {
        self.api
            .set_delete_on_close(file_context.handle, delete_file)
            .map_err(|e| ntstatus::cannot_delete_status(&e))
    }

    fn rename(
        &self,
        _file_context: Self::FileContext,
        file_name: &U16CStr,
        new_file_name: &U16CStr,
        replace_if_exists: bool,
    ) -> Result<(), NTSTATUS> {
        self.api
            .rename(
                &path_of(file_name)?,
                &path_of(new_file_name)?,
                replace_if_exists,
            )
            .map_err(fs_err)
    }

    fn get_security(
        &self,
        _file_context: Self::FileContext,
    ) -> Result<PSecurityDescriptor, NTSTATUS> {
        Ok(self.security.as_ptr())
    }

    fn set_security(
        &self,
        _file_context: Self::FileContext,
        _security_information: u32,
        _modification_descriptor: PSecurityDescriptor,
    ) -> Result<(), NTSTATUS> {
        // Every file has the same owner-only descriptor (docs/platforms.md); programs that
        // copy permissions (robocopy /COPY:S) are told it worked and the descriptor stays.
        Ok(())
    }

    fn read_directory(
        &self,
        file_context: Self::FileContext,
        marker: Option<&U16CStr>,
        mut add_dir_info: impl FnMut(DirInfo) -> bool,
    ) -> Result<(), NTSTATUS> {
        let mut after: Option<Vec<u8>> = match marker {
            Some(marker) => Some(
                String::from_utf16(marker.as_slice())
                    .map_err(|_| STATUS_INVALID_PARAMETER)?
                    .into_bytes(),
            ),
            None => None,
        };
        loop {
            let batch = self
                .api
                .list(file_context.handle, after.as_deref(), LISTING_BATCH)
                .map_err(fs_err)?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = Some(last.name.clone());
            for listed in &batch {
                if let Some(info) = Adapter::listed_info(listed)
                    && !add_dir_info(info)
                {
                    return Ok(());
                }
            }
        }
    }
}
