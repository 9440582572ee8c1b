//! /root/.ssh/authorized_keys from `system.root-ssh-keys`, 0600 as sshd wants. (The root
//! password hash is set with `chpasswd -e` by the executor, not written as a file.)

use super::RenderedFile;
use crate::answer::Answer;

pub fn authorized_keys(answer: &Answer) -> Option<RenderedFile> {
    let keys = &answer.system.root_ssh_keys;
    if keys.is_empty() {
        return None;
    }
    let mut text = keys.join("\n");
    text.push('\n');
    Some(RenderedFile::secret("/root/.ssh/authorized_keys", text))
}
