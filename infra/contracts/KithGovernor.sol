// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface IBalanceOf {
    function balanceOf(address account) external view returns (uint256);
}

/// @title KithGovernor: off-chain-style signalling votes with OpenZeppelin Governor's event shapes.
/// @notice Weight is the voter's token balance when the vote is cast (no checkpoints): the simulator
///         and the CRM only need who voted, how, and with what weight, not on-chain execution.
contract KithGovernor {
    struct Proposal {
        address proposer;
        uint64 voteStart;
        uint64 voteEnd;
        uint256 againstVotes;
        uint256 forVotes;
        uint256 abstainVotes;
    }

    IBalanceOf public immutable token;
    uint256 public immutable votingPeriod; // seconds
    uint256 public proposalCount;

    mapping(uint256 => Proposal) public proposals;
    mapping(uint256 => mapping(address => bool)) public hasVoted;

    // Exactly OpenZeppelin Governor's events, so any Governor-aware indexer decodes them.
    event ProposalCreated(
        uint256 proposalId,
        address proposer,
        address[] targets,
        uint256[] values,
        string[] signatures,
        bytes[] calldatas,
        uint256 voteStart,
        uint256 voteEnd,
        string description
    );
    event VoteCast(address indexed voter, uint256 proposalId, uint8 support, uint256 weight, string reason);

    error UnknownProposal(uint256 proposalId);
    error VotingClosed(uint256 proposalId);
    error AlreadyVoted(uint256 proposalId, address voter);
    error InvalidSupport(uint8 support);

    constructor(address token_, uint256 votingPeriod_) {
        token = IBalanceOf(token_);
        votingPeriod = votingPeriod_;
    }

    /// @notice Ids are hashes, as in OpenZeppelin, so they exercise full uint256 handling downstream.
    function propose(string calldata description) external returns (uint256 proposalId) {
        uint256 count = ++proposalCount;
        proposalId = uint256(keccak256(abi.encode(block.chainid, address(this), count, description)));
        uint64 start = uint64(block.timestamp);
        uint64 end = uint64(block.timestamp + votingPeriod);
        proposals[proposalId] = Proposal(msg.sender, start, end, 0, 0, 0);
        emit ProposalCreated(
            proposalId,
            msg.sender,
            new address[](0),
            new uint256[](0),
            new string[](0),
            new bytes[](0),
            start,
            end,
            description
        );
    }

    function castVote(uint256 proposalId, uint8 support) external returns (uint256) {
        return _castVote(proposalId, support, "");
    }

    function castVoteWithReason(uint256 proposalId, uint8 support, string calldata reason)
        external
        returns (uint256)
    {
        return _castVote(proposalId, support, reason);
    }

    function proposalVotes(uint256 proposalId)
        external
        view
        returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes)
    {
        Proposal storage p = proposals[proposalId];
        return (p.againstVotes, p.forVotes, p.abstainVotes);
    }

    function _castVote(uint256 proposalId, uint8 support, string memory reason) internal returns (uint256 weight) {
        Proposal storage p = proposals[proposalId];
        if (p.proposer == address(0)) revert UnknownProposal(proposalId);
        if (block.timestamp > p.voteEnd) revert VotingClosed(proposalId);
        if (hasVoted[proposalId][msg.sender]) revert AlreadyVoted(proposalId, msg.sender);
        hasVoted[proposalId][msg.sender] = true;
        weight = token.balanceOf(msg.sender);
        // Same encoding as OpenZeppelin's GovernorCountingSimple: 0 against, 1 for, 2 abstain.
        if (support == 0) p.againstVotes += weight;
        else if (support == 1) p.forVotes += weight;
        else if (support == 2) p.abstainVotes += weight;
        else revert InvalidSupport(support);
        emit VoteCast(msg.sender, proposalId, support, weight, reason);
    }
}
